package dev.requant.formats.ggml;

import dev.requant.formats.io.LittleEndian;
import java.lang.foreign.MemorySegment;

/**
 * Widening raw BF16 data (a GGUF BF16 tensor, a safetensors BF16 tensor) to floats, exactly. A plain loop, which C2
 * compiles in milliseconds and which is memory-bound on model-sized data (0.65 ns per weight against the Vector API
 * kernel's 0.52 that was used before, on the shared 2-core EPYC VM). That kernel ran as boxed Java code
 * at some 35 ns per weight until C2 had compiled it, and its warm-up and compilation were a visible share of a
 * quantization of a small model (BENCHMARKS.md, "Start-up of the cheap types").
 */
public final class Bf16Rows {
    private Bf16Rows() {}

    /** Widens {@code n} BF16 values at byte {@code srcOffset} of {@code src} into {@code dst[dstOffset..]}. */
    public static void toFloat(MemorySegment src, long srcOffset, float[] dst, int dstOffset, int n) {
        toFloatScalar(src, srcOffset, dst, dstOffset, n);
    }

    static void toFloatScalar(MemorySegment src, long srcOffset, float[] dst, int dstOffset, int n) {
        for (int i = 0; i < n; i++) dst[dstOffset + i] = BFloat16.toFloat(src.get(LittleEndian.SHORT, srcOffset + 2L * i));
    }
}
