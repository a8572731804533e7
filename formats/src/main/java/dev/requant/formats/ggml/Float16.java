package dev.requant.formats.ggml;

/**
 * IEEE binary16 as ggml stores block scales. Encoding is round-to-nearest-even with gradual underflow, which is what
 * ggml_compute_fp32_to_fp16 computes on every input but NaN; ggml maps every NaN to sign|0x7E00, so we do too.
 */
public final class Float16 {
    private Float16() {}

    public static float toFloat(short bits) {
        return Float.float16ToFloat(bits);
    }

    public static short fromFloat(float f) {
        if (Float.isNaN(f)) return (short) ((Float.floatToRawIntBits(f) >>> 16 & 0x8000) | 0x7E00);
        return Float.floatToFloat16(f);
    }

    /** {@code f} rounded to the nearest binary16 value, as a float. */
    public static float round(float f) {
        return toFloat(fromFloat(f));
    }
}
