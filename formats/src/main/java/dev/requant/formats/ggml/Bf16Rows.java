package dev.requant.formats.ggml;

import dev.requant.formats.io.LittleEndian;
import java.lang.foreign.MemorySegment;

/** Widening raw BF16 data (a GGUF BF16 tensor, a safetensors BF16 tensor) to floats, exactly; vectorized when enabled. */
public final class Bf16Rows {
    private Bf16Rows() {}

    /** Widens {@code n} BF16 values at byte {@code srcOffset} of {@code src} into {@code dst[dstOffset..]}. */
    public static void toFloat(MemorySegment src, long srcOffset, float[] dst, int dstOffset, int n) {
        if (VectorSupport.enabled()) VectorCodecs.bf16ToFloat(src, srcOffset, dst, dstOffset, n);
        else toFloatScalar(src, srcOffset, dst, dstOffset, n);
    }

    static void toFloatScalar(MemorySegment src, long srcOffset, float[] dst, int dstOffset, int n) {
        for (int i = 0; i < n; i++) dst[dstOffset + i] = BFloat16.toFloat(src.get(LittleEndian.SHORT, srcOffset + 2L * i));
    }
}
