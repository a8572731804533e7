package dev.requant.formats.ggml;

/**
 * The rounding and conversion helpers of ggml-quants.c, reproduced exactly as x86-64 gcc compiles them
 * (docs/llamacpp-formats.md 3.1).
 */
final class Rounding {
    private Rounding() {}

    /** C roundf: half away from zero, returned as a float. In double, because 0.49999997f + 0.5f rounds to 1 in float. */
    static float roundf(float f) {
        if (!(Math.abs(f) < 0x1p23f)) return f; // already integral, or Inf/NaN
        return (float) Math.copySign(Math.floor(Math.abs((double) f) + 0.5), f);
    }

    /**
     * A C conversion from float to a narrow integer ({@code (int8_t) f}, {@code (uint8_t) f}) as gcc emits it on
     * x86-64: cvttss2si to int32 (truncation toward zero; NaN and out-of-range give 0x80000000), then the low bits.
     * Java's {@code (int) f} saturates instead, which differs for Inf and values past 2^31.
     */
    static int cvtt(float f) {
        if (f >= 0x1p31f || f < -0x1p31f || f != f) return Integer.MIN_VALUE;
        return (int) f;
    }

    /**
     * C lroundf (glibc, x86-64): half away from zero into a 64-bit long; NaN, Inf and magnitudes from 2^63 up give
     * LONG_MIN, as glibc's cast of out-of-range values (cvttss2si) does.
     */
    static long lroundf(float f) {
        if (!(Math.abs(f) < 0x1p63f)) return Long.MIN_VALUE;
        return (long) roundf(f);
    }

    /** ggml's nearest_int: the float add rounds half to even; valid for |f| <= 4194303, garbage (but the same) beyond. */
    static int nearestInt(float f) {
        float val = f + 12582912.0f;
        return (Float.floatToRawIntBits(val) & 0x007FFFFF) - 0x00400000;
    }
}
