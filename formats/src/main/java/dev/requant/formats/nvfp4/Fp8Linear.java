package dev.requant.formats.nvfp4;

import dev.requant.formats.safetensors.SafetensorsDtype;
import java.lang.foreign.MemorySegment;

/**
 * An FP8 linear weight: {@code weight} in F8_E4M3 (or F8_E5M2), {@code [rows, cols]}, with float scales that
 * multiply it. Three granularities occur (gemma-conversion.md §7.3, convert_hf_to_gguf.py dequant_simple):
 * <ul>
 *   <li>{@link Granularity#TENSOR}: one scale (ModelOpt FP8 {@code weight_scale} scalar, compressed-tensors strategy
 *       "tensor" {@code [1]});</li>
 *   <li>{@link Granularity#CHANNEL}: one scale per output row (ModelOpt per-channel {@code [rows]}, compressed-tensors
 *       strategy "channel" {@code [rows, 1]});</li>
 *   <li>{@link Granularity#BLOCK}: one scale per {@code blockRows x blockCols} tile, the grid cropped at the edges
 *       ({@code weight_scale_inv} of quant_method "fp8" with {@code weight_block_size}, compressed-tensors strategy
 *       "block").</li>
 * </ul>
 * Dequantized as the Python converter does: {@code W[r, c] = float(w) · scale}, one float32 product.
 *
 * @param scales the scales, row-major over the grid ({@code 1}, {@code rows}, or
 *     {@code ceil(rows/blockRows) x ceil(cols/blockCols)} values)
 * @param blockRows tile height (BLOCK only; 0 otherwise)
 * @param blockCols tile width (BLOCK only; 0 otherwise)
 */
public record Fp8Linear(String module, String weightName, SafetensorsDtype dtype, long rows, long cols, MemorySegment data, float[] scales,
                        int blockRows, int blockCols) {
    public enum Granularity { TENSOR, CHANNEL, BLOCK }

    public Fp8Linear {
        if (blockRows > 0 || blockCols > 0) {
            if (blockRows <= 0 || blockCols <= 0) throw new IllegalArgumentException(module + ": block " + blockRows + " x " + blockCols);
            long n = ceil(rows, blockRows) * ceil(cols, blockCols);
            if (scales.length != n) throw new IllegalArgumentException(module + ": " + scales.length + " block scales for a grid of " + n);
        } else if (scales.length != 1 && scales.length != rows) {
            throw new IllegalArgumentException(module + ": " + scales.length + " scales for " + rows + " rows");
        }
    }

    /** A per-tensor or per-row scaled weight. */
    public Fp8Linear(String module, String weightName, SafetensorsDtype dtype, long rows, long cols, MemorySegment data, float[] scales) {
        this(module, weightName, dtype, rows, cols, data, scales, 0, 0);
    }

    public Granularity granularity() {
        if (blockRows > 0) return Granularity.BLOCK;
        return scales.length == 1 ? Granularity.TENSOR : Granularity.CHANNEL;
    }

    /** The scale of element {@code (r, c)}. */
    public float scale(long r, long c) {
        return switch (granularity()) {
            case TENSOR -> scales[0];
            case CHANNEL -> scales[(int) r];
            case BLOCK -> scales[(int) ((r / blockRows) * ceil(cols, blockCols) + c / blockCols)];
        };
    }

    public void dequantizeRow(long r, float[] dst, int off) {
        dtype.toFloats(data, r * cols, dst, off, (int) cols);
        if (granularity() != Granularity.BLOCK) {
            float s = scale(r, 0);
            for (int i = 0; i < cols; i++) dst[off + i] *= s;
            return;
        }
        for (int i = 0; i < cols; i++) dst[off + i] *= scale(r, i);
    }

    /** The stored byte of element {@code (r, c)} (an FP8 code). */
    public int code(long r, long c) {
        return data.get(java.lang.foreign.ValueLayout.JAVA_BYTE, r * cols + c) & 0xFF;
    }

    private static long ceil(long a, long b) { return (a + b - 1) / b; }

    @Override
    public String toString() {
        return module + " " + dtype + " [" + rows + ", " + cols + "] " + granularity().name().toLowerCase(java.util.Locale.ROOT)
                + (blockRows > 0 ? " " + blockRows + "x" + blockCols : "");
    }
}
