package dev.requant.formats.ggml;

/** E8M0, the MXFP4 block scale: an 8-bit biased exponent, value 2^(e-127); 0xFF is NaN in OCP MX. */
public final class E8m0 {
    private E8m0() {}

    /** 2^(e-127); e = 0xFF is NaN (OCP MX). */
    public static float toFloat(int e) {
        e &= 0xFF;
        if (e == 0xFF) return Float.NaN;
        return Math.scalb(1f, e - 127); // exact: 2^-127 is a float subnormal
    }

    /**
     * 2^(e-128), the half value ggml multiplies with its doubled FP4 table (ggml-impl.h ggml_e8m0_to_fp32_half;
     * e = 0xFF is not special-cased there and gives 2^127).
     */
    public static float toFloatHalf(int e) {
        e &= 0xFF;
        int bits = e < 2 ? 0x00200000 << e : (e - 1) << 23;
        return Float.intBitsToFloat(bits);
    }

    /**
     * The exponent byte quantize_row_mxfp4_ref picks for a block whose largest magnitude is {@code amax}:
     * {@code amax > 0 ? (uint8_t)(floorf(log2f(amax)) - 2 + 127) : 0}, with glibc's log2f rounding and gcc's
     * float-to-uint8 conversion (so +Inf gives 0, tiny subnormals wrap around).
     */
    public static int mxfp4Exponent(float amax) {
        if (!(amax > 0f)) return 0;
        float e = (float) Math.floor(Log2f.log2f(amax)) - 2f + 127f;
        return Rounding.cvtt(e) & 0xFF;
    }
}
