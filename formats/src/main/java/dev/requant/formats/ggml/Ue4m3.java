package dev.requant.formats.ggml;

/**
 * UE4M3, the NVFP4 sub-block scale: unsigned E4M3 (4 exponent bits, bias 7, 3 mantissa bits), largest finite 448,
 * 0x7F is NaN. Encoding follows ggml's ggml_fp32_to_ue4m3 exactly, quirks included (ggml-impl.h; docs 3.9):
 * round half up on the first dropped bit, every value from 256 up saturates to 0x7E (448), and the subnormal range
 * rounds {@code x*512 + 0.5} down and clamps to 7.
 */
public final class Ue4m3 {
    private Ue4m3() {}

    /** ggml_fp32_to_ue4m3: x <= 0 and NaN give 0. */
    public static int fromFloat(float x) {
        if (!(x > 0f)) return 0;
        if (x > 448f) x = 448f;
        int bits = Float.floatToRawIntBits(x);
        int fp32Exp = ((bits >>> 23) & 0xFF) - 127;
        int fp32Man = (bits >>> 20) & 0x7;
        int exp = fp32Exp + 7;
        if (exp <= 0) {
            int man = (int) (x * 512.0f + 0.5f);
            if (man > 7) man = 7;
            if (man < 1) return 0;
            return man;
        }
        if (exp >= 15) return 0x7E;
        int man = fp32Man + ((bits >>> 19) & 1);
        if (man > 7) {
            man = 0;
            exp++;
            if (exp >= 15) return 0x7E;
        }
        return (exp << 3) | man;
    }

    /** The value of the code; bit 7 is ignored and 0x7F (NaN) reads as 0, as ggml does. */
    public static float toFloat(int code) {
        return toFloatHalf(code) * 2f;
    }

    /** ggml_ue4m3_to_fp32: half the value, to pair with the doubled FP4 table. 0 and 0x7F give 0. */
    public static float toFloatHalf(int code) {
        code &= 0xFF;
        if (code == 0 || code == 0x7F) return 0f;
        int exp = (code >> 3) & 0xF;
        int man = code & 0x7;
        float raw = exp == 0 ? Math.scalb((float) man, -9) : Math.scalb(1.0f + man / 8.0f, exp - 7);
        return raw * 0.5f;
    }
}
