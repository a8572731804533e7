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

    /** E5M2 is binary16 with the low byte cut off. */
    public static float e5m2ToFloat(byte b) { return E5M2[b & 0xFF]; }
}
