package dev.requant.formats.ggml;

/** The rounding helpers of ggml-quants.c, reproduced exactly (see docs/llamacpp-formats.md 3.1). */
final class Rounding {
    private Rounding() {}

    /** C roundf: half away from zero. In double, because 0.49999997f + 0.5f rounds to 1 in float. */
    static int roundf(float f) {
        return (int) Math.copySign(Math.floor(Math.abs((double) f) + 0.5), f);
    }

    /** ggml's nearest_int: the float add rounds half to even; valid for |f| <= 4194303. */
    static int nearestInt(float f) {
        float val = f + 12582912.0f;
        return (Float.floatToRawIntBits(val) & 0x007FFFFF) - 0x00400000;
    }
}
