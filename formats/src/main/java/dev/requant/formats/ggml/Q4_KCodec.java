package dev.requant.formats.ggml;

import static dev.requant.formats.ggml.Rounding.nearestInt;

import dev.requant.formats.io.LittleEndian;
import java.lang.foreign.MemorySegment;

/**
 * Q4_K: 144-byte super-blocks of 256 = 8 sub-blocks of 32, {@code fp16 d; fp16 dmin; uint8 scales[12]; uint8
 * qs[128]}: six-bit scale and min per sub-block packed as get_scale_min_k4 reads them; value = d*sc*q - dmin*m.
 * Encoders: quantize_row_q4_K_ref (make_qkx2_quants, 6-bit scales by plain rounding) and with importance
 * quantize_row_q4_K_impl (make_qkx3_quants with imatrix*sqrt(sigma2 + x^2), 6-bit scales by make_qp_quants); both
 * re-quantize the elements with the fp16-rounded scales.
 */
class Q4_KCodec implements BlockCodec {
    static final int QK_K = 256;
    static final int BLOCK_BYTES = 144;

    @Override public GgmlType type() { return GgmlType.Q4_K; }

    @Override public boolean usesImportance() { return true; }

    /** get_scale_min_k4: {scale, min} of sub-block j from the 12 packed bytes at {@code q[qo..]}. */
    static int scale(int j, byte[] q, int qo) {
        if (j < 4) return q[qo + j] & 63;
        return (q[qo + j + 4] & 0xF) | (((q[qo + j - 4] & 0xFF) >> 6) << 4);
    }

    static int min(int j, byte[] q, int qo) {
        if (j < 4) return q[qo + j + 4] & 63;
        return ((q[qo + j + 4] & 0xFF) >> 4) | (((q[qo + j] & 0xFF) >> 6) << 4);
    }

    /** The packing loop of quantize_row_q4_K_ref/impl (scales[] must start zeroed). */
    static void packScaleMin(int j, int ls, int lm, byte[] s, int so) {
        if (j < 4) {
            s[so + j] = (byte) ls;
            s[so + j + 4] = (byte) lm;
        } else {
            s[so + j + 4] = (byte) ((ls & 0xF) | ((lm & 0xF) << 4));
            s[so + j - 4] |= (byte) ((ls >> 4) << 6);
            s[so + j] |= (byte) ((lm >> 4) << 6);
        }
    }

    @Override
    public void decode(MemorySegment src, long srcOffset, float[] dst, int dstOffset, int n) {
        byte[] blk = new byte[BLOCK_BYTES];
        for (int i = 0; i < n / QK_K; i++) {
            MemorySegment.copy(src, LittleEndian.BYTE, srcOffset + (long) i * BLOCK_BYTES, blk, 0, BLOCK_BYTES);
            float d = Float16.toFloat((short) ((blk[0] & 0xFF) | (blk[1] << 8)));
            float dmin = Float16.toFloat((short) ((blk[2] & 0xFF) | (blk[3] << 8)));
            int y = dstOffset + i * QK_K;
            int q = 16;
            for (int is = 0; is < 8; is += 2) {
                float d1 = d * scale(is, blk, 4);
                float m1 = dmin * min(is, blk, 4);
                float d2 = d * scale(is + 1, blk, 4);
                float m2 = dmin * min(is + 1, blk, 4);
                for (int l = 0; l < 32; ++l) dst[y++] = d1 * (blk[q + l] & 0xF) - m1;
                for (int l = 0; l < 32; ++l) dst[y++] = d2 * ((blk[q + l] & 0xFF) >> 4) - m2;
                q += 32;
            }
        }
    }

    @Override
    public void encodeRow(float[] x, int xo, int n, float[] importance, MemorySegment dst, long dstOffset) {
        encodeRun(false, x, xo, n, 1, importance, dst, dstOffset); // not encodeRows: FastQ4_K's falls back to this method
    }

    /** The rows as one run of super-blocks (each is encoded on its own), so that the lanes of the fits fill up. */
    @Override
    public void encodeRows(float[] x, int xo, int n, int rows, float[] importance, MemorySegment dst, long dstOffset) {
        encodeRun(false, x, xo, n, rows, importance, dst, dstOffset);
    }

    /** Super-blocks per {@link LaneQkxFit} call: 256 sub-blocks of 32 side by side (as Q2_KCodec's 512 of 16). */
    static final int CHUNK_BLOCKS = 32;

    private static final ThreadLocal<Lanes> LANES = ThreadLocal.withInitial(Lanes::new);

    /** Per-thread scratch of {@link #encodeRun}. */
    private static final class Lanes {
        final LaneQkxFit fit = new LaneQkxFit(CHUNK_BLOCKS * 8);
        final float[] w = new float[CHUNK_BLOCKS * QK_K];
        final float[] scales = new float[CHUNK_BLOCKS * 8], mins = new float[CHUNK_BLOCKS * 8], sw = new float[CHUNK_BLOCKS * 8];
        final byte[] L = new byte[CHUNK_BLOCKS * QK_K], Ls = new byte[8], Lm = new byte[8];
        final byte[] blk = new byte[Q5_KCodec.BLOCK_BYTES];
        final KQuantScratch one = new KQuantScratch();
    }

    /**
     * Q4_K (q5 false) or Q5_K rows as runs of up to {@link #CHUNK_BLOCKS} super-blocks: the make_qkx2/qkx3_quants fits
     * of a run side by side ({@link LaneQkxFit}, bit-exact with the transliteration), then each super-block's scales,
     * codes and packing. A run holding Inf or NaN (in x or the weights) goes block by block through the transliterated
     * fits, whose integer rounding such values go through as ggml's does.
     */
    static void encodeRun(boolean q5, float[] x, int xo, int n, int rows, float[] importance, MemorySegment dst, long dstOffset) {
        int nmax = q5 ? 31 : 15;
        int blockBytes = q5 ? Q5_KCodec.BLOCK_BYTES : BLOCK_BYTES;
        Lanes s = LANES.get();
        int total = rows * (n / QK_K);
        float[] w = s.w;
        byte[] blk = s.blk;
        for (int b0 = 0; b0 < total; b0 += CHUNK_BLOCKS) {
            int blocks = Math.min(CHUNK_BLOCKS, total - b0);
            int xb0 = xo + b0 * QK_K, m = blocks * QK_K;
            boolean finite = FiniteCheck.allFinite(x, xb0, xb0 + m);
            if (finite) {
                if (importance == null) {
                    for (int j = 0; j < m / 32; j++) ImportanceWeights.subBlockRmsWeights(x, xb0 + 32 * j, w, 32 * j);
                } else {
                    for (int j = 0; j < blocks; j++) {
                        int xb = xb0 + j * QK_K;
                        float sigma2 = ImportanceWeights.superBlockSigma2(x, xb);
                        ImportanceWeights.sigmaWeights(x, xb, importance, (b0 + j) * QK_K % n, sigma2, w, j * QK_K, QK_K);
                    }
                    for (int j = 0; j < m / 32; j++) {
                        float sumw = 0;
                        for (int l = 0; l < 32; ++l) sumw += w[32 * j + l];
                        s.sw[j] = sumw;
                    }
                }
                finite = FiniteCheck.allFinite(w, 0, m);
            }
            if (finite) {
                if (importance != null) {
                    s.fit.fit(m / 32, 32, nmax, x, xb0, w, 0, -0.9f, 0.05f, 36, false, s.scales, 0, s.mins, 0, s.L, 0);
                } else if (q5) {
                    s.fit.fit(m / 32, 32, nmax, x, xb0, w, 0, -0.5f, 0.1f, 15, false, s.scales, 0, s.mins, 0, s.L, 0);
                } else {
                    s.fit.fit(m / 32, 32, nmax, x, xb0, w, 0, -1f, 0.1f, 20, false, s.scales, 0, s.mins, 0, s.L, 0);
                }
            }
            for (int j = 0; j < blocks; j++) {
                java.util.Arrays.fill(blk, (byte) 0);
                int xb = xb0 + j * QK_K;
                byte[] L = s.L;
                int lo = j * QK_K;
                if (!finite) {
                    KQuantScratch t = s.one;
                    if (importance == null) {
                        if (q5) encodeRef(x, xb, 31, -0.5f, 0.1f, 15, blk, t);
                        else encodeRef(x, xb, 15, -1f, 0.1f, 20, blk, t);
                    } else {
                        encodeWeighted(x, xb, importance, (b0 + j) * QK_K % n, nmax, blk, t);
                    }
                    L = t.L;
                    lo = 0;
                } else if (importance == null) {
                    finishRef(x, xb, nmax, s.scales, 8 * j, s.mins, 8 * j, s.L, lo, blk);
                } else {
                    finishWeighted(x, xb, nmax, s.scales, 8 * j, s.mins, 8 * j, s.sw, 8 * j, s.L, lo, blk, s.Ls, s.Lm);
                }
                if (q5) Q5_KCodec.pack(L, lo, blk);
                else packQs4(L, lo, blk, 16);
                MemorySegment.copy(blk, 0, dst, LittleEndian.BYTE, dstOffset + (long) (b0 + j) * blockBytes, blockBytes);
            }
        }
    }

    /** Per-call scratch of the K-quant encoders (codecs are shared between threads). */
    static final class KQuantScratch {
        final byte[] L = new byte[QK_K];
        final byte[] Laux = new byte[32];
        final byte[] Ls = new byte[8];
        final byte[] Lm = new byte[8];
        final float[] weights = new float[32];
        final float[] sw = new float[8];
        final float[] mins = new float[8];
        final float[] scales = new float[8];
    }

    /**
     * quantize_row_q4_K_ref / q5_K_ref for one super-block at x[xo]: fills d, dmin and scales[12] of {@code blk}
     * (starting at 0) and the codes {@code s.L}.
     */
    static void encodeRef(float[] x, int xo, int nmax, float rmin, float rdelta, int nstep, byte[] blk, KQuantScratch s) {
        for (int j = 0; j < QK_K / 32; ++j) {
            ImportanceWeights.subBlockRmsWeights(x, xo + 32 * j, s.weights, 0);
            s.scales[j] = QuantFit.makeQkx2Quants(32, nmax, x, xo + 32 * j, s.weights, 0, s.L, 32 * j, s.mins, j, s.Laux,
                    rmin, rdelta, nstep, false);
        }
        finishRef(x, xo, nmax, s.scales, 0, s.mins, 0, s.L, 0, blk);
    }

    /**
     * The rest of quantize_row_q4_K_ref / q5_K_ref after the 8 sub-block fits ({@code scales}, {@code mins} from
     * {@code so}, codes {@code L} from {@code lo}): 6-bit scales and mins, d and dmin, the codes again. Shared by the
     * scalar and the vector encoder.
     */
    static void finishRef(float[] x, int xo, int nmax, float[] scales, int so, float[] mins, int mo, byte[] L, int lo, byte[] blk) {
        float maxScale = 0;
        float maxMin = 0;
        for (int j = 0; j < QK_K / 32; ++j) {
            float scale = scales[so + j];
            if (scale > maxScale) maxScale = scale;
            float min = mins[mo + j];
            if (min > maxMin) maxMin = min;
        }
        float invScale = maxScale > 0 ? 63.f / maxScale : 0.f;
        float invMin = maxMin > 0 ? 63.f / maxMin : 0.f;
        for (int j = 0; j < QK_K / 32; ++j) {
            int ls = nearestInt(invScale * scales[so + j]) & 0xFF; // uint8_t ls = nearest_int(...)
            int lm = nearestInt(invMin * mins[mo + j]) & 0xFF;
            ls = Math.min(63, ls);
            lm = Math.min(63, lm);
            packScaleMin(j, ls, lm, blk, 4);
        }
        putShort(blk, 0, Float16.fromFloat(maxScale / 63.f));
        putShort(blk, 2, Float16.fromFloat(maxMin / 63.f));
        requantize(x, xo, nmax, blk, L, lo);
    }

    /** quantize_row_q4_K_impl / q5_K_impl (with quant_weights) for one super-block. */
    static void encodeWeighted(float[] x, int xo, float[] qw, int qwo, int nmax, byte[] blk, KQuantScratch s) {
        float sigma2 = ImportanceWeights.superBlockSigma2(x, xo);
        for (int j = 0; j < QK_K / 32; ++j) {
            ImportanceWeights.sigmaWeights(x, xo + 32 * j, qw, qwo + 32 * j, sigma2, s.weights, 0, 32);
            float sumw = 0;
            for (int l = 0; l < 32; ++l) sumw += s.weights[l];
            s.sw[j] = sumw;
            s.scales[j] = QuantFit.makeQkx3Quants(32, nmax, x, xo + 32 * j, s.weights, 0, s.L, 32 * j, s.mins, j, s.Laux,
                    -0.9f, 0.05f, 36, false);
        }
        finishWeighted(x, xo, nmax, s.scales, 0, s.mins, 0, s.sw, 0, s.L, 0, blk, s.Ls, s.Lm);
    }

    /** The rest of quantize_row_q4_K_impl / q5_K_impl after the sub-block fits, as {@link #finishRef}. */
    static void finishWeighted(float[] x, int xo, int nmax, float[] scales, int so, float[] mins, int mo, float[] sw, int swo,
            byte[] L, int lo, byte[] blk, byte[] Ls, byte[] Lm) {
        float dBlock = QuantFit.makeQpQuants(QK_K / 32, 63, scales, so, Ls, 0, sw, swo);
        float mBlock = QuantFit.makeQpQuants(QK_K / 32, 63, mins, mo, Lm, 0, sw, swo);
        for (int j = 0; j < QK_K / 32; ++j) {
            int ls = Ls[j] & 0xFF;
            int lm = Lm[j] & 0xFF;
            if (nmax == 31) { // quantize_row_q5_K_impl clamps to 63 here, q4_K_impl does not
                ls = Math.min(63, ls);
                lm = Math.min(63, lm);
            }
            packScaleMin(j, ls, lm, blk, 4);
        }
        putShort(blk, 0, Float16.fromFloat(dBlock));
        putShort(blk, 2, Float16.fromFloat(mBlock));
        requantize(x, xo, nmax, blk, L, lo);
    }

    /** The second pass: codes from the fp16-rounded d/dmin and 6-bit scales; sub-blocks with scale 0 keep pass one. */
    private static void requantize(float[] x, int xo, int nmax, byte[] blk, byte[] L, int lo) {
        float d0 = Float16.toFloat(getShort(blk, 0));
        float dmin0 = Float16.toFloat(getShort(blk, 2));
        for (int j = 0; j < QK_K / 32; ++j) {
            float d = d0 * scale(j, blk, 4);
            if (d == 0) continue;
            float dm = dmin0 * min(j, blk, 4);
            for (int ii = 0; ii < 32; ++ii) {
                int l = nearestInt((x[xo + 32 * j + ii] + dm) / d);
                L[lo + 32 * j + ii] = (byte) Math.max(0, Math.min(nmax, l));
            }
        }
    }

    /** Q4_K nibble packing: qs[32c + l] = L[64c + l] | L[64c + 32 + l] << 4. */
    static void packQs4(byte[] L, int lo, byte[] blk, int qo) {
        for (int j = lo; j < lo + QK_K; j += 64) {
            for (int l = 0; l < 32; ++l) blk[qo + l] = (byte) (L[j + l] | (L[j + l + 32] << 4));
            qo += 32;
        }
    }

    static void putShort(byte[] b, int o, short v) {
        b[o] = (byte) v;
        b[o + 1] = (byte) (v >> 8);
    }

    static short getShort(byte[] b, int o) {
        return (short) ((b[o] & 0xFF) | (b[o + 1] << 8));
    }
}
