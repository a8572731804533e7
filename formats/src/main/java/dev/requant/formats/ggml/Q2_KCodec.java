package dev.requant.formats.ggml;

import static dev.requant.formats.ggml.Rounding.nearestInt;

import dev.requant.formats.io.LittleEndian;
import java.lang.foreign.MemorySegment;
import java.util.Arrays;

/**
 * Q2_K: 84-byte super-blocks of 256 = 16 sub-blocks of 16, {@code uint8 scales[16]; uint8 qs[64]; fp16 d; fp16
 * dmin}: scale in the low and min in the high nibble of scales[j]; value = d*sc*q - dmin*m with 2-bit q. qs[32h + l]
 * holds elements 128h + l, +32, +64, +96 in bit pairs 0, 2, 4, 6. Encoders: quantize_row_q2_K_ref
 * (make_qkx2_quants(16, 3, w = |x|, -0.5, 0.1, 15, use_mad), 4-bit scales by plain rounding) and with importance
 * quantize_row_q2_K_impl (make_qkx3_quants with imatrix*sqrt(sigma2 + x^2), sigma2 = mean x^2 of the super-block,
 * 4-bit scales and mins by make_qp_quants); both re-quantize with the fp16-rounded scales.
 */
class Q2_KCodec implements BlockCodec {
    static final int QK_K = 256;
    static final int BLOCK_BYTES = 84;
    static final int QS = 16, D = 80, DMIN = 82;

    @Override public GgmlType type() { return GgmlType.Q2_K; }

    @Override public boolean usesImportance() { return true; }

    @Override
    public void decode(MemorySegment src, long srcOffset, float[] dst, int dstOffset, int n) {
        byte[] blk = new byte[BLOCK_BYTES];
        for (int i = 0; i < n / QK_K; i++) {
            MemorySegment.copy(src, LittleEndian.BYTE, srcOffset + (long) i * BLOCK_BYTES, blk, 0, BLOCK_BYTES);
            float d = Float16.toFloat(Q4_KCodec.getShort(blk, D));
            float min = Float16.toFloat(Q4_KCodec.getShort(blk, DMIN));
            int y = dstOffset + i * QK_K;
            int is = 0;
            for (int h = 0; h < 2; h++) {
                int q = QS + 32 * h;
                for (int shift = 0; shift < 8; shift += 2) {
                    for (int half = 0; half < 32; half += 16) {
                        int sc = blk[is++] & 0xFF;
                        float dl = d * (sc & 0xF);
                        float ml = min * (sc >> 4);
                        for (int l = 0; l < 16; ++l) dst[y++] = dl * (((blk[q + half + l] & 0xFF) >> shift) & 3) - ml;
                    }
                }
            }
        }
    }

    @Override
    public void encodeRow(float[] x, int xo, int n, float[] importance, MemorySegment dst, long dstOffset) {
        encodeRun(x, xo, n, 1, importance, dst, dstOffset); // not encodeRows: FastQ2_K's falls back to this method
    }

    /**
     * The rows as one run of super-blocks (ggml's encoders treat every super-block on its own: quantize_row_q2_K_ref
     * even takes all rows as one): short rows (1024 weights: 64 sub-blocks) would give the lane loops too few lanes.
     */
    @Override
    public void encodeRows(float[] x, int xo, int n, int rows, float[] importance, MemorySegment dst, long dstOffset) {
        encodeRun(x, xo, n, rows, importance, dst, dstOffset);
    }

    private static void encodeRun(float[] x, int xo, int n, int rows, float[] importance, MemorySegment dst, long dstOffset) {
        Lanes s = LANES.get();
        int total = rows * (n / QK_K);
        for (int b = 0; b < total; b += CHUNK_BLOCKS) {
            int blocks = Math.min(CHUNK_BLOCKS, total - b);
            encodeChunk(x, xo + b * QK_K, blocks, importance, b, n, dst, dstOffset + (long) b * BLOCK_BYTES, s);
        }
    }

    /** The column (importance index) where super-block {@code block} of a run of rows of {@code n} starts. */
    private static int column(int block, int n) {
        return block * QK_K % n;
    }

    /**
     * Super-blocks per {@link LaneQkxFit} call: 512 sub-blocks side by side (96 KiB of transposed data). C2's SIMD
     * loops have a scalar tail and start-up per loop, so the lane loops need hundreds of lanes: CodecSpeed, rows of
     * 1024, plain / imatrix ns per weight: 4 blocks (one row) 33 / 74, 8: 25 / 50, 16: 17.4 / 36, 32: 16.7 / 35.8,
     * 64: 16.8 / 33.8.
     */
    static final int CHUNK_BLOCKS = 32;

    private static final ThreadLocal<Lanes> LANES = ThreadLocal.withInitial(Lanes::new);

    /** Per-thread scratch of {@link #encodeRow} (codecs are shared between threads). */
    static final class Lanes {
        final LaneQkxFit fit = new LaneQkxFit(CHUNK_BLOCKS * 16);
        final float[] w = new float[CHUNK_BLOCKS * QK_K];
        final float[] scales = new float[CHUNK_BLOCKS * 16], mins = new float[CHUNK_BLOCKS * 16], sw = new float[CHUNK_BLOCKS * 16];
        final byte[] L = new byte[CHUNK_BLOCKS * QK_K];
        final byte[] blk = new byte[BLOCK_BYTES], Ls = new byte[16], Lm = new byte[16];
        final Scratch one = new Scratch();
    }

    /**
     * {@code blocks} super-blocks from {@code x[xo..]}: the sub-block fits of all of them side by side
     * ({@link LaneQkxFit}, bit-exact with the transliteration), then each super-block's scales and codes. Inf or NaN
     * (in x or the weights) send the chunk through the transliterated fits, whose integer rounding such values go
     * through as ggml's does.
     */
    private static void encodeChunk(float[] x, int xo, int blocks, float[] importance, int first, int rowLength,
            MemorySegment dst, long dstOffset, Lanes s) {
        int n = blocks * QK_K;
        float[] w = s.w;
        boolean finite = FiniteCheck.allFinite(x, xo, xo + n);
        if (finite) {
            if (importance == null) {
                for (int i = 0; i < n; ++i) w[i] = Math.abs(x[xo + i]);
            } else {
                for (int b = 0; b < blocks; ++b) {
                    float sigma2 = ImportanceWeights.rowSigma2(x, xo + b * QK_K, QK_K); // sumx2/QK_K: no factor 2, unlike Q3_K
                    ImportanceWeights.sigmaWeights(x, xo + b * QK_K, importance, column(first + b, rowLength), sigma2, w, b * QK_K, QK_K);
                }
                for (int j = 0; j < n / 16; ++j) s.sw[j] = sum16(w, 16 * j);
                finite = FiniteCheck.allFinite(w, 0, n);
            }
        }
        if (finite) {
            if (importance == null) {
                s.fit.fit(n / 16, 16, 3, x, xo, w, 0, -0.5f, 0.1f, 15, true, s.scales, 0, s.mins, 0, s.L, 0);
            } else {
                s.fit.fit(n / 16, 16, 3, x, xo, w, 0, -0.9f, 0.05f, 36, false, s.scales, 0, s.mins, 0, s.L, 0);
            }
        }
        byte[] blk = s.blk;
        for (int b = 0; b < blocks; b++) {
            int xb = xo + b * QK_K;
            Arrays.fill(blk, (byte) 0);
            if (!finite) {
                encodeTransliterated(x, xb, importance, column(first + b, rowLength), s.one, blk);
            } else {
                if (importance == null) scalesRef(s.scales, 16 * b, s.mins, 16 * b, blk);
                else scalesWeighted(s.scales, 16 * b, s.mins, 16 * b, s.sw, 16 * b, blk, s.Ls, s.Lm);
                finish(x, xb, s.L, b * QK_K, blk);
            }
            MemorySegment.copy(blk, 0, dst, LittleEndian.BYTE, dstOffset + (long) b * BLOCK_BYTES, BLOCK_BYTES);
        }
    }

    /**
     * One super-block as ggml's loops encode it, with the transliterated fits of {@link QuantFit} into {@code blk}
     * (zeroed): the path of blocks holding Inf or NaN, and the reference the lane fits are tested against.
     */
    static void encodeTransliterated(float[] x, int xb, float[] importance, int qwo, Scratch t, byte[] blk) {
        if (importance == null) {
            fitRef(x, xb, t);
            scalesRef(t.scales, 0, t.mins, 0, blk);
        } else {
            fitWeighted(x, xb, importance, qwo, t);
            scalesWeighted(t.scales, 0, t.mins, 0, t.sw, 0, blk, t.Ls, t.Lm);
        }
        finish(x, xb, t.L, 0, blk);
    }

    /** Scratch of the transliterated per-super-block path. */
    static final class Scratch {
        final byte[] L = new byte[QK_K];
        final byte[] Laux = new byte[16];
        final byte[] Ls = new byte[16];
        final byte[] Lm = new byte[16];
        final float[] weights = new float[16];
        final float[] sw = new float[16];
        final float[] mins = new float[16];
        final float[] scales = new float[16];
    }

    /** The sub-block fits of quantize_row_q2_K_ref: w = |x|, make_qkx2_quants(16, 3, ..., -0.5, 0.1, 15, use_mad). */
    private static void fitRef(float[] x, int xo, Scratch s) {
        for (int j = 0; j < QK_K / 16; ++j) {
            for (int l = 0; l < 16; ++l) s.weights[l] = Math.abs(x[xo + 16 * j + l]);
            s.scales[j] = QuantFit.makeQkx2Quants(16, 3, x, xo + 16 * j, s.weights, 0, s.L, 16 * j, s.mins, j, s.Laux,
                    -0.5f, 0.1f, 15, true);
        }
    }

    /**
     * The 4-bit scales and mins of quantize_row_q2_K_ref from the sub-block fits at {@code scales[so..so+16)} and
     * {@code mins[mo..]}: plain rounding against the largest; sets scales[16], d and dmin of {@code blk} (zeroed).
     */
    static void scalesRef(float[] scales, int so, float[] mins, int mo, byte[] blk) {
        final float q4scale = 15.f;
        float maxScale = 0;
        float maxMin = 0;
        for (int j = 0; j < QK_K / 16; ++j) {
            if (scales[so + j] > maxScale) maxScale = scales[so + j];
            if (mins[mo + j] > maxMin) maxMin = mins[mo + j];
        }
        if (maxScale > 0) {
            float iscale = q4scale / maxScale;
            for (int j = 0; j < QK_K / 16; ++j) blk[j] = (byte) nearestInt(iscale * scales[so + j]);
            Q4_KCodec.putShort(blk, D, Float16.fromFloat(maxScale / q4scale));
        }
        if (maxMin > 0) {
            float iscale = q4scale / maxMin;
            for (int j = 0; j < QK_K / 16; ++j) blk[j] |= (byte) (nearestInt(iscale * mins[mo + j]) << 4);
            Q4_KCodec.putShort(blk, DMIN, Float16.fromFloat(maxMin / q4scale));
        }
    }

    /** The sub-block fits of quantize_row_q2_K_impl: w = imatrix*sqrt(mean x^2 + x^2), make_qkx3_quants(16, 3, ...). */
    private static void fitWeighted(float[] x, int xo, float[] qw, int qwo, Scratch s) {
        float sigma2 = ImportanceWeights.rowSigma2(x, xo, QK_K); // sumx2/QK_K: no factor 2, unlike Q3_K
        for (int j = 0; j < QK_K / 16; ++j) {
            ImportanceWeights.sigmaWeights(x, xo + 16 * j, qw, qwo + 16 * j, sigma2, s.weights, 0, 16);
            s.sw[j] = sum16(s.weights, 0);
            s.scales[j] = QuantFit.makeQkx3Quants(16, 3, x, xo + 16 * j, s.weights, 0, s.L, 16 * j, s.mins, j, s.Laux,
                    -0.9f, 0.05f, 36, false);
        }
    }

    /** The sequential float sum of 16 weights (sw[j] of the imatrix paths). */
    static float sum16(float[] w, int o) {
        float sumw = 0;
        for (int l = 0; l < 16; ++l) sumw += w[o + l];
        return sumw;
    }

    /** The 4-bit scales and mins of quantize_row_q2_K_impl: make_qp_quants(16, 15, ..., sw) for each. */
    static void scalesWeighted(float[] scales, int so, float[] mins, int mo, float[] sw, int swo, byte[] blk, byte[] Ls,
            byte[] Lm) {
        float dm = QuantFit.makeQpQuants(16, 15, scales, so, Ls, 0, sw, swo);
        float mm = QuantFit.makeQpQuants(16, 15, mins, mo, Lm, 0, sw, swo);
        Q4_KCodec.putShort(blk, D, Float16.fromFloat(dm));
        Q4_KCodec.putShort(blk, DMIN, Float16.fromFloat(mm));
        for (int j = 0; j < QK_K / 16; ++j) blk[j] = (byte) (Ls[j] | (Lm[j] << 4));
    }

    /**
     * Both encoders' end: codes from the fp16-rounded d/dmin and 4-bit scales (sub-blocks whose scale is 0 keep the
     * first-pass codes at {@code L[lo..]}), packed into qs.
     */
    static void finish(float[] x, int xo, byte[] L, int lo, byte[] blk) {
        float d0 = Float16.toFloat(Q4_KCodec.getShort(blk, D));
        float dmin0 = Float16.toFloat(Q4_KCodec.getShort(blk, DMIN));
        for (int j = 0; j < QK_K / 16; ++j) {
            int sc = blk[j] & 0xFF;
            float d = d0 * (sc & 0xF);
            if (d == 0) continue;
            float dm = dmin0 * (sc >> 4);
            for (int ii = 0; ii < 16; ++ii) {
                int l = nearestInt((x[xo + 16 * j + ii] + dm) / d);
                L[lo + 16 * j + ii] = (byte) Math.max(0, Math.min(3, l));
            }
        }
        packQs2(L, lo, blk, QS);
    }

    /** Q2_K/Q3_K packing of 2-bit codes: qs[32h + l] = L[128h + l] | L[+32] << 2 | L[+64] << 4 | L[+96] << 6. */
    static void packQs2(byte[] L, int lo, byte[] blk, int qo) {
        for (int j = lo; j < lo + QK_K; j += 128) {
            for (int l = 0; l < 32; ++l) {
                blk[qo + (j - lo) / 4 + l] = (byte) (L[j + l] | (L[j + l + 32] << 2) | (L[j + l + 64] << 4) | (L[j + l + 96] << 6));
            }
        }
    }
}
