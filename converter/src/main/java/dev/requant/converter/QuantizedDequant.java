package dev.requant.converter;

import dev.requant.formats.ggml.GgmlType;
import dev.requant.formats.nvfp4.Fp8Linear;
import dev.requant.formats.nvfp4.Nvfp4Tensor;
import java.lang.foreign.MemorySegment;
import java.util.List;
import java.util.Optional;

/**
 * A quantized checkpoint weight read as float32 by its producer's exact dequantization (NVFP4: {@code e2m1 ·
 * blockScale}; FP8: {@code fp8 · scale}, convert_hf_to_gguf.py's dequant_simple), for output types other than NVFP4
 * ({@code --type q8_0}, FP8 layers of mixed checkpoints, and NVFP4 tensors whose scale llama.cpp would drop).
 */
final class QuantizedDequant implements TensorRecipe {
    private final Nvfp4Tensor nvfp4;
    private final Fp8Linear fp8;
    private final String why;
    private final GgmlType fallback;

    /** @param fallback the type this tensor must take (a fallback for a dropped scale), or null for the usual rules */
    QuantizedDequant(Nvfp4Tensor t, String why, GgmlType fallback) {
        this.nvfp4 = t;
        this.fp8 = null;
        this.why = why;
        this.fallback = fallback;
    }

    QuantizedDequant(Fp8Linear t) {
        this.nvfp4 = null;
        this.fp8 = t;
        this.why = "FP8 dequantize (" + t.granularity().name().toLowerCase(java.util.Locale.ROOT) + " scale" + (t.blockRows() > 0 ? "s " + t.blockRows() + "x" + t.blockCols() : "") + ")";
        this.fallback = null;
    }

    GgmlType fallback() { return fallback; }

    Nvfp4Tensor nvfp4() { return nvfp4; }

    Fp8Linear fp8() { return fp8; }

    @Override public List<String> sources() { return List.of(nvfp4 != null ? nvfp4.weightName() : fp8.weightName()); }

    @Override public String transform() { return why; }

    @Override public String sourceType() { return nvfp4 != null ? "NVFP4" : fp8.dtype().name(); }

    @Override
    public long[] ne() {
        return nvfp4 != null ? new long[] {nvfp4.cols(), nvfp4.rows()} : new long[] {fp8.cols(), fp8.rows()};
    }

    @Override public Optional<MemorySegment> stored(GgmlType type) { return Optional.empty(); }

    @Override
    public void readRows(long row, int count, float[] dst) {
        int cols = (int) rowLength();
        for (int i = 0; i < count; i++) {
            if (nvfp4 != null) nvfp4.dequantizeRow(row + i, dst, i * cols);
            else fp8.dequantizeRow(row + i, dst, i * cols);
        }
    }
}
