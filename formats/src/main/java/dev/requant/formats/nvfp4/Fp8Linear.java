package dev.requant.formats.nvfp4;

import dev.requant.formats.safetensors.SafetensorsDtype;
import java.lang.foreign.MemorySegment;

/**
 * An FP8 linear weight of a mixed checkpoint (ModelOpt FP8 attention next to NVFP4 MLPs): {@code weight} in F8_E4M3
 * or F8_E5M2, {@code [rows, cols]}, and {@code weight_scale}, one float per tensor or per output row. Dequantized as
 * convert_hf_to_gguf.py's dequant_simple does: {@code W[r, c] = float(w) · scale[r]}.
 */
public record Fp8Linear(String module, String weightName, SafetensorsDtype dtype, long rows, long cols, MemorySegment data, float[] scales) {
    public Fp8Linear {
        if (scales.length != 1 && scales.length != rows) throw new IllegalArgumentException(module + ": " + scales.length + " scales for " + rows + " rows");
    }

    public float scale(long r) { return scales.length == 1 ? scales[0] : scales[(int) r]; }

    public void dequantizeRow(long r, float[] dst, int off) {
        dtype.toFloats(data, r * cols, dst, off, (int) cols);
        float s = scale(r);
        for (int i = 0; i < cols; i++) dst[off + i] *= s;
    }
}
