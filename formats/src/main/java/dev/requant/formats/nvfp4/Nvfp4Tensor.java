package dev.requant.formats.nvfp4;

import dev.requant.formats.ggml.Float8;
import dev.requant.formats.ggml.Fp4E2M1;
import dev.requant.formats.io.LittleEndian;
import java.lang.foreign.MemorySegment;

/**
 * One NVFP4-quantized linear weight as a checkpoint stores it, whoever produced it (ModelOpt or compressed-tensors):
 * E2M1 codes packed two per byte, row-major {@code [rows, cols/2]}, element {@code 2i} in the low nibble and
 * {@code 2i+1} in the high nibble (both producers pack this way); one FP8 E4M3 scale per 16 consecutive elements of a
 * row, {@code [rows, cols/16]} in linear (not swizzled) order; the per-tensor weight scale and the optional activation
 * scale, each in its producer's {@link GlobalScale convention}. The segments are views of the checkpoint's mapping.
 *
 * <p>Dequantization is the producers' own: {@code W[r, c] = E2M1(code) · blockScale(r, c / 16)} with the block scale
 * computed first ({@link GlobalScale#blockScale}).
 *
 * @param module the Hugging Face module, e.g. {@code model.layers.0.mlp.gate_proj}
 * @param weightName the stored name of the packed codes ({@code <module>.weight} or {@code <module>.weight_packed})
 * @param inputScale the activation scale ({@code input_scale} / {@code input_global_scale}), or null when absent
 */
public record Nvfp4Tensor(String module, String weightName, long rows, long cols, MemorySegment packed, MemorySegment scales,
        GlobalScale weightScale, GlobalScale inputScale) {
    /** Elements per block scale. */
    public static final int BLOCK = 16;

    public Nvfp4Tensor {
        if (cols % BLOCK != 0) throw new IllegalArgumentException(module + ": " + cols + " columns is not a multiple of " + BLOCK);
        if (packed.byteSize() != rows * (cols / 2)) throw new IllegalArgumentException(module + ": packed codes take " + packed.byteSize() + " bytes, expected " + rows * (cols / 2));
        if (scales.byteSize() != rows * (cols / BLOCK)) throw new IllegalArgumentException(module + ": block scales take " + scales.byteSize() + " bytes, expected " + rows * (cols / BLOCK));
    }

    public long blocksPerRow() { return cols / BLOCK; }

    public long elementCount() { return rows * cols; }

    /** The 4-bit E2M1 code of element {@code (r, c)}. */
    public int code(long r, long c) {
        int b = packed.get(LittleEndian.BYTE, r * (cols / 2) + (c >> 1)) & 0xFF;
        return (c & 1) == 0 ? b & 0x0F : b >>> 4;
    }

    /** The stored E4M3 byte of block {@code b} of row {@code r}. */
    public int scaleCode(long r, long b) {
        return scales.get(LittleEndian.BYTE, r * blocksPerRow() + b) & 0xFF;
    }

    /** The dequantized scale of block {@code b} of row {@code r} (E4M3 value with the per-tensor scale applied). */
    public float blockScale(long r, long b) {
        return weightScale.blockScale(Float8.e4m3ToFloat((byte) scaleCode(r, b)));
    }

    /** Row {@code r} dequantized into {@code dst[off, off + cols)}. */
    public void dequantizeRow(long r, float[] dst, int off) {
        long pRow = r * (cols / 2);
        long nb = blocksPerRow();
        for (long b = 0; b < nb; b++) {
            float s = blockScale(r, b);
            int o = off + (int) (b * BLOCK);
            long p = pRow + b * (BLOCK / 2);
            for (int j = 0; j < BLOCK / 2; j++) {
                int q = packed.get(LittleEndian.BYTE, p + j) & 0xFF;
                dst[o + 2 * j] = Fp4E2M1.toFloat(q & 0x0F) * s;
                dst[o + 2 * j + 1] = Fp4E2M1.toFloat(q >>> 4) * s;
            }
        }
    }

    /** The same codes and block scales with other per-tensor scales (for tests that plant faults, and for writers). */
    public Nvfp4Tensor withScales(GlobalScale weight, GlobalScale input) {
        return new Nvfp4Tensor(module, weightName, rows, cols, packed, scales, weight, input);
    }

    @Override
    public String toString() {
        return module + " NVFP4 [" + rows + ", " + cols + "] " + weightScale;
    }
}
