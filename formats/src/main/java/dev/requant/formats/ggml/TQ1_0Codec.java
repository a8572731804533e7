package dev.requant.formats.ggml;

import dev.requant.formats.io.LittleEndian;
import java.lang.foreign.MemorySegment;

/**
 * TQ1_0 (ternary, 1.69 bits): 54-byte blocks of 256, {@code uint8 qs[48]; uint8 qh[4]; fp16 d}. Trits q+1 (0, 1, 2)
 * are packed five to a byte as a base-3 fraction scaled to 256 (ceil(v*256/243)), most significant trit first:
 * qs[m] (m < 32) holds elements m + 32n, qs[32 + m] (m < 16) elements 160 + m + 16n, n = 0..4; qh[j] holds
 * elements 240 + j + 4n, n = 0..3, and a zero fifth trit. Trit n of byte b is ((b*3^n mod 256)*3) >> 8; value =
 * (q-1)*d. The encoder is quantize_row_tq1_0_ref (d = largest magnitude, q = lroundf(x/d)); llama.cpp's
 * quantize_tq1_0 ignores an imatrix, so this one does too.
 */
class TQ1_0Codec implements BlockCodec {
    static final int QK_K = 256;
    static final int BLOCK_BYTES = 54;
    static final int QH = 48, D = 52;
    private static final int[] POW3 = {1, 3, 9, 27, 81, 243};

    @Override public GgmlType type() { return GgmlType.TQ1_0; }

    /** Trit n (0..4) of a packed byte, as the dequantizer reads it. */
    static int tritOf(int packed, int n) {
        int q = (packed * POW3[n]) & 0xFF;
        return (q * 3) >> 8;
    }

    @Override
    public void decode(MemorySegment src, long srcOffset, float[] dst, int dstOffset, int n) {
        for (int b = 0; b < n / QK_K; b++) {
            long base = srcOffset + (long) b * BLOCK_BYTES;
            float d = Float16.toFloat(src.get(LittleEndian.SHORT, base + D));
            int y = dstOffset + b * QK_K;
            for (int nn = 0; nn < 5; ++nn) {
                for (int m = 0; m < 32; ++m) dst[y++] = (float) (tritOf(src.get(LittleEndian.BYTE, base + m) & 0xFF, nn) - 1) * d;
            }
            for (int nn = 0; nn < 5; ++nn) {
                for (int m = 0; m < 16; ++m) dst[y++] = (float) (tritOf(src.get(LittleEndian.BYTE, base + 32 + m) & 0xFF, nn) - 1) * d;
            }
            for (int nn = 0; nn < 4; ++nn) {
                for (int j = 0; j < 4; ++j) dst[y++] = (float) (tritOf(src.get(LittleEndian.BYTE, base + QH + j) & 0xFF, nn) - 1) * d;
            }
        }
    }

    /** The fast path (runs of 32 blocks per copy), and the transliteration for the blocks it leaves. */
    private static final UnitCodes.Rows ROWS =
            new UnitCodes.Rows(QK_K, BLOCK_BYTES, D, 32, TQ1_0Codec::codes, TQ1_0Codec::encodeBlock);

    /**
     * quantize_row_tq1_0_ref, a run of blocks at a time: blocks of finite values through {@link UnitCodes}, the rest
     * through {@link #encodeBlock}; the same bytes either way. With trits 0..2, ggml's byte-wide {@code q = q*3 + t}
     * never wraps (at most 242 after five trits, 240 after qh's four and the zero pad), so a byte is the plain sum
     * 81t0 + 27t1 + 9t2 + 3t3 + t4: three short loops that C2 compiles in 4-10 ms (the shared row loop in 17-40),
     * where the transliteration's three inlined pack loops took it 0.1-0.3 s of CPU, half its work in a quantization of
     * the 127 M-weight test file (BENCHMARKS.md, "Whole-method compiles").
     */
    @Override
    public void encodeRow(float[] x, int xo, int n, float[] importance, MemorySegment dst, long dstOffset) {
        ROWS.encode(x, xo, n, dst, dstOffset);
    }

    /** The packed trits of a block of finite values: qs as five elements 32 and 16 apart, qh as four and a zero. */
    private static void codes(float[] x, int o, float id, byte[] run, int p) {
        for (int m = 0; m < 32; ++m) run[p + m] = scaled(trits5(x, o + m, 32, id));
        for (int m = 0; m < 16; ++m) run[p + 32 + m] = scaled(trits5(x, o + 160 + m, 16, id));
        for (int j = 0; j < 4; ++j) run[p + QH + j] = scaled(3 * trits4(x, o + 240 + j, 4, id)); // zero pad
    }

    /** The codes of four elements {@code stride} apart from {@code x[o]} in base 3, the first most significant. */
    private static int trits4(float[] x, int o, int stride, float id) {
        return 27 * UnitCodes.code(x[o] * id) + 9 * UnitCodes.code(x[o + stride] * id)
                + 3 * UnitCodes.code(x[o + 2 * stride] * id) + UnitCodes.code(x[o + 3 * stride] * id);
    }

    /** The same of five elements. */
    private static int trits5(float[] x, int o, int stride, float id) {
        return 3 * trits4(x, o, stride, id) + UnitCodes.code(x[o + 4 * stride] * id);
    }

    /** A base-3 fraction q/243 (q < 243) scaled to a byte, rounded up: ggml's {@code (q*256 + 242) / 243}. */
    private static byte scaled(int q) {
        return (byte) ((q * 256 + (243 - 1)) / 243);
    }

    /** quantize_row_tq1_0_ref for one block. */
    static void encodeBlock(float[] x, int o, MemorySegment dst, long base) {
        float id = inverseScale(x, o, dst, base + D);
        for (int m = 0; m < 32; ++m) dst.set(LittleEndian.BYTE, base + m, pack(x, o + m, 32, 5, id, false));
        for (int m = 0; m < 16; ++m) dst.set(LittleEndian.BYTE, base + 32 + m, pack(x, o + 160 + m, 16, 5, id, false));
        for (int j = 0; j < 4; ++j) dst.set(LittleEndian.BYTE, base + QH + j, pack(x, o + 240 + j, 4, 4, id, true));
    }

    /** Base-3 digits q+1 of {@code count} elements {@code stride} apart, then (qh) a zero digit, scaled to a byte. */
    static byte pack(float[] x, int o, int stride, int count, float id, boolean padTrit) {
        int q = 0;
        for (int n = 0; n < count; ++n) {
            q = (q * 3) & 0xFF; // uint8_t q; q *= 3; q += xi
            q = (q + trit(x[o + n * stride], id)) & 0xFF;
        }
        if (padTrit) q = (q * 3) & 0xFF;
        return (byte) ((q * 256 + (243 - 1)) / 243); // ceiling division, stored as uint8
    }

    /**
     * The amax scan of quantize_row_tq{1,2}_0_ref: stores d = fp16(amax) at {@code dOffset} and returns 1/d (0 for
     * d = 0). MAX(a, b) is {@code a > b ? a : b}, so a NaN is the maximum only until the next element.
     */
    static float inverseScale(float[] x, int o, MemorySegment dst, long dOffset) {
        float amax = 0.0f;
        for (int j = 0; j < QK_K; j++) {
            float v = Math.abs(x[o + j]);
            amax = amax > v ? amax : v;
        }
        dst.set(LittleEndian.SHORT, dOffset, Float16.fromFloat(amax));
        return amax != 0 ? 1.0f / amax : 0.0f; // NaN is true in C: 1/NaN
    }

    /** {@code int xi = lroundf(v * id) + 1}: 0, 1, 2 for in-range values; the C arithmetic for the rest. */
    static int trit(float v, float id) {
        return (int) (Rounding.lroundf(v * id) + 1);
    }
}
