package dev.requant.formats.ggml;

/** bfloat16: the upper 16 bits of an IEEE binary32. */
public final class BFloat16 {
    private BFloat16() {}

    /** Exact widening (ggml-impl.h ggml_compute_bf16_to_fp32). */
    public static float toFloat(short bits) {
        return Float.intBitsToFloat((bits & 0xFFFF) << 16);
    }

    /**
     * Round to nearest even, subnormals kept, NaN truncated with the quiet bit forced
     * (ggml-impl.h ggml_compute_fp32_to_bf16; gguf-py quants.py uses the same rounding).
     */
    public static short fromFloat(float f) {
        int u = Float.floatToRawIntBits(f);
        if ((u & 0x7FFFFFFF) > 0x7F800000) return (short) ((u >>> 16) | 0x40);
        return (short) ((u + 0x7FFF + ((u >>> 16) & 1)) >>> 16);
    }

    /** {@code f} rounded to the nearest bfloat16 value, as a float. */
    public static float round(float f) {
        return toFloat(fromFloat(f));
    }
}
