package dev.requant.formats.ggml;

/**
 * The 8-bit float formats found in checkpoints (safetensors F8_E4M3 / F8_E5M2). Decoding is exact.
 * E4M3 here is the "FN" variant used by PyTorch and ModelOpt: bias 7, no infinities, 0x7F and 0xFF are NaN, max 448.
 */
public final class Float8 {
    private Float8() {}

    private static final float[] E4M3 = new float[256];
    private static final float[] E5M2 = new float[256];

    static {
        for (int b = 0; b < 256; b++) {
            E4M3[b] = decodeE4M3(b);
            E5M2[b] = Float16.toFloat((short) (b << 8));
        }
    }

    private static float decodeE4M3(int b) {
        int sign = (b & 0x80) != 0 ? -1 : 1;
        int exp = (b >> 3) & 0xF;
        int man = b & 7;
        if (exp == 0xF && man == 7) return Float.NaN;
        float v = exp == 0 ? man * 0x1p-9f : (1 + man / 8f) * Math.scalb(1f, exp - 7);
        return sign * v;
    }

    public static float e4m3ToFloat(byte b) { return E4M3[b & 0xFF]; }

    /**
     * float to E4M3FN, round to nearest even, as PyTorch's {@code tensor.to(torch.float8_e4m3fn)} (c10
     * fp8e4m3fn_from_fp32_value): magnitudes that round past 448 become NaN (0x7F with the sign), NaN stays NaN,
     * subnormals (below 2^-6) are kept with step 2^-9. Use {@link #e4m3FromFloatSaturating} to clamp to 448 first,
     * as checkpoint quantizers (ModelOpt) do.
     */
    public static byte e4m3FromFloat(float f) {
        int bits = Float.floatToRawIntBits(f);
        int sign = (bits >>> 24) & 0x80;
        float a = Math.abs(f);
        if (Float.isNaN(f) || a >= 480f) return (byte) (sign | 0x7F); // 480 = midpoint 448..512: rounds to the NaN code
        int code;
        if (a < 0x1p-6f) {
            code = (int) Math.rint(a * 512f); // exact scaling, then RNE to a multiple of 2^-9 (0..8; 8 is the first normal)
        } else {
            int ab = Float.floatToRawIntBits(a);
            int exp = ((ab >>> 23) & 0xFF) - 127 + 7;
            int man = ab & 0x7FFFFF;
            int keep = man >>> 20;
            int rest = man & 0xFFFFF;
            int half = 0x80000;
            if (rest > half || (rest == half && (keep & 1) == 1)) keep++;
            code = (exp << 3) + keep; // a mantissa carry moves into the exponent
        }
        return (byte) (sign | Math.min(code, 0x7F));
    }

    /** {@link #e4m3FromFloat} after clamping the magnitude to 448 (NaN stays NaN). */
    public static byte e4m3FromFloatSaturating(float f) {
        if (Float.isNaN(f)) return e4m3FromFloat(f);
        return e4m3FromFloat(Math.max(-448f, Math.min(448f, f)));
    }

    /** E5M2 is binary16 with the low byte cut off. */
    public static float e5m2ToFloat(byte b) { return E5M2[b & 0xFF]; }
}
