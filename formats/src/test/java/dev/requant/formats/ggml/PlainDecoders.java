package dev.requant.formats.ggml;

/**
 * Dequantizers written plainly from the block layouts of docs/llamacpp-formats.md 2.3-2.4, sharing no code with the
 * codecs: the independent oracle of {@link BlockCodecContract#decodeMatchesThePlainDecoder}. Arithmetic follows the
 * order the layouts give (so results are bit-comparable), scales are computed from their definitions.
 */
final class PlainDecoders {
    private PlainDecoders() {}

    static int u8(byte[] b, int i) { return b[i] & 0xFF; }

    static float half(byte[] b, int i) { return Float.float16ToFloat((short) (u8(b, i) | u8(b, i + 1) << 8)); }

    /** E2M1 as ggml's kvalues_fp4 table has it: code 8 (-0 in OCP) is stored as 0 and decodes to +0. */
    static float e2m1(int code) {
        float[] mag = {0f, 0.5f, 1f, 1.5f, 2f, 3f, 4f, 6f};
        return code == 8 ? 0f : (code & 8) != 0 ? -mag[code & 7] : mag[code & 7];
    }

    /** kvalues_iq4nl of ggml-common.h. */
    static final int[] IQ4_LEVELS = {-127, -104, -83, -65, -49, -35, -22, -10, 1, 13, 25, 38, 53, 69, 89, 113};

    /**
     * Trit (0..2) of element e of a TQ1_0 block: five per byte in qs[0..31] (elements m + 32n) and qs[32..47]
     * (160 + m + 16n), four per byte in qh[0..3] (240 + j + 4n); a byte stores ceil(v * 256 / 243) of the base-3 number
     * v whose first digit is the most significant, and digit n is recovered as floor(3 * frac(byte * 3^n / 256)).
     */
    static int tq1Trit(byte[] b, int o, int e) {
        int byteIndex, n;
        if (e < 160) { byteIndex = e % 32; n = e / 32; }
        else if (e < 240) { byteIndex = 32 + (e - 160) % 16; n = (e - 160) / 16; }
        else { byteIndex = 48 + (e - 240) % 4; n = (e - 240) / 4; }
        long shifted = (long) u8(b, o + byteIndex) * (long) Math.pow(3, n);
        return (int) ((shifted % 256) * 3 / 256);
    }

    /** Trit of element e of a TQ2_0 block: bits 2n of qs[32h + m] for e = 128h + 32n + m. */
    static int tq2Trit(byte[] b, int o, int e) {
        int h = e / 128, n = (e % 128) / 32, m = e % 32;
        return (u8(b, o + 32 * h + m) >> (2 * n)) & 3;
    }

    /** Decodes one block of {@code type} starting at b[o]. */
    static float[] block(GgmlType type, byte[] b, int o) {
        return switch (type) {
            case F32 -> new float[] {Float.intBitsToFloat(u8(b, o) | u8(b, o + 1) << 8 | u8(b, o + 2) << 16 | u8(b, o + 3) << 24)};
            case F16 -> new float[] {half(b, o)};
            case BF16 -> new float[] {Float.intBitsToFloat((u8(b, o) | u8(b, o + 1) << 8) << 16)};
            case Q4_0 -> {
                float d = half(b, o);
                float[] y = new float[32];
                for (int j = 0; j < 16; j++) {
                    y[j] = ((u8(b, o + 2 + j) & 15) - 8) * d;
                    y[j + 16] = ((u8(b, o + 2 + j) >> 4) - 8) * d;
                }
                yield y;
            }
            case Q4_1 -> {
                float d = half(b, o), m = half(b, o + 2);
                float[] y = new float[32];
                for (int j = 0; j < 16; j++) {
                    y[j] = (u8(b, o + 4 + j) & 15) * d + m;
                    y[j + 16] = (u8(b, o + 4 + j) >> 4) * d + m;
                }
                yield y;
            }
            case Q5_0, Q5_1 -> {
                boolean one = type == GgmlType.Q5_1;
                float d = half(b, o), m = one ? half(b, o + 2) : 0f;
                int hOff = o + (one ? 4 : 2), qOff = hOff + 4;
                long qh = u8(b, hOff) | u8(b, hOff + 1) << 8 | u8(b, hOff + 2) << 16 | (long) u8(b, hOff + 3) << 24;
                float[] y = new float[32];
                for (int j = 0; j < 16; j++) {
                    int lo = (u8(b, qOff + j) & 15) | (int) ((qh >> j) & 1) << 4;
                    int hi = (u8(b, qOff + j) >> 4) | (int) ((qh >> (j + 16)) & 1) << 4;
                    y[j] = one ? lo * d + m : (lo - 16) * d;
                    y[j + 16] = one ? hi * d + m : (hi - 16) * d;
                }
                yield y;
            }
            case Q8_0 -> {
                float d = half(b, o);
                float[] y = new float[32];
                for (int j = 0; j < 32; j++) y[j] = b[o + 2 + j] * d;
                yield y;
            }
            case Q4_K, Q5_K -> {
                boolean five = type == GgmlType.Q5_K;
                float d = half(b, o), dmin = half(b, o + 2);
                int s = o + 4, qh = o + 16, qs = o + (five ? 48 : 16);
                float[] y = new float[256];
                for (int sub = 0; sub < 8; sub++) {
                    int sc, mn;
                    if (sub < 4) {
                        sc = u8(b, s + sub) & 63;
                        mn = u8(b, s + sub + 4) & 63;
                    } else {
                        sc = (u8(b, s + sub + 4) & 15) | (u8(b, s + sub - 4) >> 6) << 4;
                        mn = (u8(b, s + sub + 4) >> 4) | (u8(b, s + sub) >> 6) << 4;
                    }
                    int chunk = sub / 2;
                    boolean high = (sub & 1) == 1;
                    for (int l = 0; l < 32; l++) {
                        int byt = u8(b, qs + 32 * chunk + l);
                        int q = high ? byt >> 4 : byt & 15;
                        if (five) q += 16 * ((u8(b, qh + l) >> sub) & 1);
                        y[32 * sub + l] = (d * sc) * q - (dmin * mn);
                    }
                }
                yield y;
            }
            case Q6_K -> {
                float d = half(b, o + 208);
                float[] y = new float[256];
                for (int e = 0; e < 256; e++) {
                    int h = e / 128, r = e % 128, l = r % 32, part = r / 32;
                    int ql = u8(b, o + 64 * h + l + (part % 2 == 1 ? 32 : 0));
                    int lowBits = part < 2 ? ql & 15 : ql >> 4;
                    int highBits = (u8(b, o + 128 + 32 * h + l) >> (2 * part)) & 3;
                    int q = (lowBits | highBits << 4) - 32;
                    y[e] = d * b[o + 192 + e / 16] * q;
                }
                yield y;
            }
            case MXFP4 -> {
                double scale = Math.pow(2, u8(b, o) - 127);
                float[] y = new float[32];
                for (int j = 0; j < 16; j++) {
                    y[j] = (float) (e2m1(u8(b, o + 1 + j) & 15) * scale);
                    y[j + 16] = (float) (e2m1(u8(b, o + 1 + j) >> 4) * scale);
                }
                yield y;
            }
            case NVFP4 -> {
                float[] y = new float[64];
                for (int s = 0; s < 4; s++) {
                    int c = u8(b, o + s);
                    int exp = (c >> 3) & 15, man = c & 7;
                    double scale = c == 0x7F ? 0 : exp == 0 ? man * Math.pow(2, -9) : (1 + man / 8.0) * Math.pow(2, exp - 7);
                    for (int j = 0; j < 8; j++) {
                        int q = u8(b, o + 4 + 8 * s + j);
                        y[16 * s + j] = (float) (e2m1(q & 15) * scale);
                        y[16 * s + 8 + j] = (float) (e2m1(q >> 4) * scale);
                    }
                }
                yield y;
            }
            case Q1_0 -> {
                float d = half(b, o);
                float[] y = new float[128];
                for (int j = 0; j < 128; j++) y[j] = ((u8(b, o + 2 + j / 8) >> (j % 8)) & 1) == 1 ? d : -d;
                yield y;
            }
            case Q2_0 -> {
                float d = half(b, o);
                float[] y = new float[64];
                for (int j = 0; j < 64; j++) y[j] = (((u8(b, o + 2 + j / 4) >> (2 * (j % 4))) & 3) - 1) * d;
                yield y;
            }
            case TQ1_0, TQ2_0 -> {
                boolean one = type == GgmlType.TQ1_0;
                float d = half(b, o + (one ? 52 : 64));
                float[] y = new float[256];
                for (int e = 0; e < 256; e++) y[e] = (float) ((one ? tq1Trit(b, o, e) : tq2Trit(b, o, e)) - 1) * d;
                yield y;
            }
            case Q2_K -> {
                float d = half(b, o + 80), dmin = half(b, o + 82);
                float[] y = new float[256];
                for (int e = 0; e < 256; e++) {
                    int sc = u8(b, o + e / 16);
                    int q = (u8(b, o + 16 + 32 * (e / 128) + e % 32) >> (2 * ((e % 128) / 32))) & 3;
                    y[e] = (d * (sc & 15)) * q - (dmin * (sc >> 4));
                }
                yield y;
            }
            case Q3_K -> {
                float d = half(b, o + 108);
                float[] y = new float[256];
                for (int e = 0; e < 256; e++) {
                    int sub = e / 16;
                    int low4 = sub < 8 ? u8(b, o + 96 + sub) & 15 : u8(b, o + 96 + sub - 8) >> 4;
                    int high2 = (u8(b, o + 104 + sub % 4) >> (2 * (sub / 4))) & 3;
                    int scale = (low4 | high2 << 4) - 32;
                    int q = (u8(b, o + 32 + 32 * (e / 128) + e % 32) >> (2 * ((e % 128) / 32))) & 3;
                    boolean highBit = ((u8(b, o + e % 32) >> (e / 32)) & 1) == 1;
                    y[e] = (d * scale) * (q - (highBit ? 0 : 4));
                }
                yield y;
            }
            case IQ4_NL -> {
                float d = half(b, o);
                float[] y = new float[32];
                for (int j = 0; j < 16; j++) {
                    y[j] = d * IQ4_LEVELS[u8(b, o + 2 + j) & 15];
                    y[j + 16] = d * IQ4_LEVELS[u8(b, o + 2 + j) >> 4];
                }
                yield y;
            }
            case IQ4_XS -> {
                float d = half(b, o);
                int scalesH = u8(b, o + 2) | u8(b, o + 3) << 8;
                float[] y = new float[256];
                for (int e = 0; e < 256; e++) {
                    int blk = e / 32, j = e % 32;
                    int ls = ((u8(b, o + 4 + blk / 2) >> (4 * (blk % 2))) & 15) | ((scalesH >> (2 * blk)) & 3) << 4;
                    int qb = u8(b, o + 8 + 16 * blk + j % 16);
                    y[e] = (d * (ls - 32)) * IQ4_LEVELS[j < 16 ? qb & 15 : qb >> 4];
                }
                yield y;
            }
            case IQ2_XXS, IQ2_XS, IQ2_S, IQ3_XXS, IQ3_S, IQ1_S, IQ1_M -> PlainIqDecoders.block(type, b, o);
            default -> throw new IllegalArgumentException(type.toString());
        };
    }
}
