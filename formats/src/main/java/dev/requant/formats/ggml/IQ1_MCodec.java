package dev.requant.formats.ggml;

import static dev.requant.formats.ggml.IqSearch.IQ1_MINUS;
import static dev.requant.formats.ggml.IqSearch.IQ1_PLUS;
import static dev.requant.formats.ggml.IqSearch.max;
import static dev.requant.formats.ggml.Rounding.nearestInt;

import dev.requant.formats.io.LittleEndian;
import java.lang.foreign.MemorySegment;
import java.util.Arrays;

/**
 * IQ1_M: 56-byte super-blocks of 256, {@code uint8 qs[32]; uint8 qh[16]; uint8 scales[8]}, no separate scale field:
 * the fp16 super-block scale is spread over the top nibbles of the four uint16 in scales, whose low 12 bits hold a
 * 3-bit scale per 16 elements. Each group of 8 is an 11-bit {@link IqGrid#IQ1} point (low byte in qs, 3 bits in a qh
 * nibble whose fourth bit is the sign of the group's delta = +-0.125); value = d*(2*scale+1) * (grid + delta).
 * Encoder: quantize_row_iq1_m_impl, with or without importance: per 16 elements, an exhaustive split of the sorted
 * elements into -1, 0, +1 with a delta sign per half; then one refit of d over the whole super-block.
 */
class IQ1_MCodec extends IqGroups.Codec {
    static final int BLOCK_BYTES = 56;
    private static final int BS = 16; // IQ1M_BLOCK_SIZE
    private static final int QH = 32, SCALES = 48;
    private static final int[] MASKS = {0x00, 0x80, 0x08, 0x88};

    @Override public GgmlType type() { return GgmlType.IQ1_M; }

    @Override IqGrid grid() { return IqGrid.IQ1; }

    @Override boolean shifted() { return true; }

    @Override
    void groups(byte[] blk, IqGroups g) {
        int[] sc = new int[4];
        for (int k = 0; k < 4; k++) sc[k] = Q4_KCodec.getShort(blk, SCALES + 2 * k) & 0xFFFF;
        float d = Float16.toFloat(superBlockScale(sc));
        for (int ib = 0; ib < 8; ib++) {
            float dl1 = d * (2 * ((sc[ib / 2] >> (6 * (ib % 2))) & 7) + 1);
            float dl2 = d * (2 * ((sc[ib / 2] >> (6 * (ib % 2) + 3)) & 7) + 1);
            for (int l = 0; l < 4; l++) {
                int qh = blk[QH + 2 * ib + l / 2] & 0xFF;
                g.point8(4 * ib + l, l < 2 ? dl1 : dl2, (blk[4 * ib + l] & 0xFF) | ((qh << ((l & 1) == 0 ? 8 : 4)) & 0x700));
                g.delta[4 * ib + l] = (qh & ((l & 1) == 0 ? 0x08 : 0x80)) != 0 ? -0.125f : 0.125f;
            }
        }
    }

    /** The fp16 bits spread over the top nibbles of the four scale words. */
    private static short superBlockScale(int[] sc) {
        return (short) ((sc[0] >> 12) | ((sc[1] >> 8) & 0x00F0) | ((sc[2] >> 4) & 0x0F00) | (sc[3] & 0xF000));
    }

    /** x_p or x_m for group k (0: first 8, 1: last 8) of a sub-block with shift code {@code shift} (0..3). */
    private static float[] deltas(int shift, int k) {
        if (k == 0) return shift < 2 ? IQ1_PLUS : IQ1_MINUS;
        return shift % 2 == 0 ? IQ1_PLUS : IQ1_MINUS;
    }

    private final boolean perElementSums;

    IQ1_MCodec() {
        this(false);
    }

    /**
     * @param perElementSums score every split by summing its elements again, as ggml did before llama.cpp PR 28706
     *     (September 2026) replaced that with prefix sums; the float sums differ in rounding, so some blocks come out
     *     different. Only for reproducing files of earlier llama.cpp builds; the registered codec is the pinned one's.
     */
    IQ1_MCodec(boolean perElementSums) {
        this.perElementSums = perElementSums;
    }

    @Override
    public void encodeRow(float[] x, int xo, int n, float[] importance, MemorySegment dst, long dstOffset) {
        IqGrid grid = IqGrid.IQ1;
        IqGrid.Search search = grid.search();
        byte[] blk = new byte[BLOCK_BYTES];
        float[] scales = new float[QK_K / BS];
        int[] shifts = new int[QK_K / BS];
        float[] weight = new float[BS];
        int[] idx = new int[BS];
        byte[] L = new byte[BS];
        int[] index = new int[BS / 8];
        float[] terms = new float[72];
        Split split = new Split();
        int[] sc = new int[4];
        for (int ibl = 0; ibl < n / QK_K; ibl++) {
            Arrays.fill(blk, (byte) 0);
            int xbl = xo + QK_K * ibl;
            float maxScale = 0;
            float sigma2 = 2 * IqSearch.sumOfSquares(x, xbl) / QK_K;
            for (int ib = 0; ib < QK_K / BS; ib++) {
                int xb = xbl + BS * ib;
                weights(x, xb, importance, QK_K * ibl + BS * ib, sigma2, weight);
                float max = Math.abs(x[xb]);
                for (int i = 1; i < BS; i++) max = max(max, Math.abs(x[xb + i]));
                if (max < IqSearch.EPS_IQ1_M) {
                    scales[ib] = 0;
                    shifts[ib] = 0;
                    continue;
                }
                IqSearch.sortedOrder(x, xb, BS, idx);
                if (perElementSums) split.searchPerElement(x, xb, weight, idx, max);
                else split.search(x, xb, weight, idx, max);
                float scale = split.scale;
                int besti1 = split.i1, besti2 = split.i2, bestK = split.k;
                if (besti1 < 0 || besti2 < 0 || bestK < 0) {
                    scales[ib] = 0;
                    shifts[ib] = 0;
                    continue;
                }
                for (int j = 0; j < besti1; j++) L[idx[j]] = 0;
                for (int j = besti1; j < besti2; j++) L[idx[j]] = 1;
                for (int j = besti2; j < BS; j++) L[idx[j]] = 2;
                if (scale < 0) {
                    for (int j = 0; j < BS; j++) L[j] = (byte) (2 - L[j]);
                    scale = -scale;
                    bestK = 3 - bestK;
                }
                boolean allOnGrid = true;
                for (int k = 0; k < BS / 8; k++) {
                    int u = 0;
                    for (int j = 0; j < 8; j++) u |= L[8 * k + j] << (2 * j);
                    int gi = search.map[u];
                    if (gi < 0) {
                        allOnGrid = false;
                        gi = IqSearch.bestNeighbourIq1(grid, search.neighbours, -gi - 1, x, xb + 8 * k, weight, 8 * k, scale,
                                deltas(bestK, k), L, 8 * k, terms);
                    }
                    index[k] = gi;
                }
                if (!allOnGrid) {
                    float sx = 0, s2 = 0;
                    for (int k = 0; k < BS / 8; k++) {
                        float[] xx = deltas(bestK, k);
                        for (int j = 0; j < 8; j++) {
                            float w = weight[8 * k + j];
                            float q = xx[grid.levels[8 * index[k] + j]];
                            sx += w * q * x[xb + 8 * k + j];
                            s2 += w * q * q;
                        }
                    }
                    if (sx > 0 && s2 > 0) scale = sx / s2;
                }
                blk[2 * ib] = (byte) index[0];
                blk[2 * ib + 1] = (byte) index[1];
                blk[QH + ib] = (byte) ((index[0] >> 8) | ((index[1] >> 8) << 4));
                scales[ib] = scale;
                shifts[ib] = bestK;
                maxScale = max(maxScale, scale);
            }
            if (maxScale != 0) {
                Arrays.fill(sc, 0);
                float d = maxScale / 15;
                float id = 1 / d;
                float sx = 0, s2 = 0;
                for (int ib = 0; ib < QK_K / BS; ib++) {
                    int l = Math.max(0, Math.min(7, nearestInt(0.5f * (id * scales[ib] - 1))));
                    sc[ib / 4] |= l << (3 * (ib % 4));
                    blk[QH + ib] |= (byte) MASKS[shifts[ib]];
                    int xb = xbl + BS * ib;
                    weights(x, xb, importance, QK_K * ibl + BS * ib, sigma2, weight);
                    int qh = blk[QH + ib] & 0xFF;
                    for (int k = 0; k < BS / 8; k++) {
                        float[] xx = deltas(shifts[ib], k);
                        int g = (blk[2 * ib + k] & 0xFF) + ((qh << (8 - 4 * k)) & 0x700);
                        for (int j = 0; j < 8; j++) {
                            float w = weight[8 * k + j];
                            float q = xx[grid.levels[8 * g + j]] * (2 * l + 1);
                            sx += w * q * x[xb + 8 * k + j];
                            s2 += w * q * q;
                        }
                    }
                }
                if (s2 > 0) d = sx / s2;
                int s = Float16.fromFloat(d * 1.1125f) & 0xFFFF;
                sc[0] |= (s & 0x000F) << 12;
                sc[1] |= (s & 0x00F0) << 8;
                sc[2] |= (s & 0x0F00) << 4;
                sc[3] |= s & 0xF000;
                for (int k = 0; k < 4; k++) Q4_KCodec.putShort(blk, SCALES + 2 * k, (short) sc[k]);
            }
            MemorySegment.copy(blk, 0, dst, LittleEndian.BYTE, dstOffset + (long) ibl * BLOCK_BYTES, BLOCK_BYTES);
        }
    }

    /**
     * The best split of a sub-block's sorted elements into levels -1, 0, +1 (elements idx[0..i1), idx[i1..i2),
     * idx[i2..16)) and delta signs k (0: +,+; 1: +,-; 2: -,+; 3: -,- for the two halves), by largest sumqx^2/sumq2,
     * first on ties; i1 = -1 if none.
     */
    private static final class Split {
        int i1, i2, k;
        float scale;
        private final float[][] px = new float[2][BS + 1], pw = new float[2][BS + 1];
        private final float[] sumqx = new float[4], sumq2 = new float[4];
        private final float[] b0p = new float[BS + 1], b0m = new float[BS + 1], b1p = new float[BS + 1], b1m = new float[BS + 1];

        /** quantize_row_iq1_m_impl's search since PR 28706: prefix sums per half, each split scored in constant time. */
        void search(float[] x, int xb, float[] weight, int[] idx, float max) {
            float p2 = IQ1_PLUS[2], m2 = IQ1_MINUS[2];
            float cp1 = IQ1_PLUS[0] * IQ1_PLUS[0] - IQ1_PLUS[1] * IQ1_PLUS[1];
            float cp2 = IQ1_PLUS[1] * IQ1_PLUS[1] - IQ1_PLUS[2] * IQ1_PLUS[2];
            float cm1 = IQ1_MINUS[0] * IQ1_MINUS[0] - IQ1_MINUS[1] * IQ1_MINUS[1];
            float cm2 = IQ1_MINUS[1] * IQ1_MINUS[1] - IQ1_MINUS[2] * IQ1_MINUS[2];
            float bestScore = -Float.MAX_VALUE, scale = max;
            int besti1 = -1, besti2 = -1, bestK = -1;
            // prefix sums per half (each half has its own delta sign); since the level values of x_p and x_m are
            // 1 apart, a split's sum collapses to T*v[2] - px[i1] - px[i2], as ggml computes it
            float[] px0 = px[0], px1 = px[1], pw0 = pw[0], pw1 = pw[1];
            px0[0] = px1[0] = 0;
            pw0[0] = pw1[0] = 0;
            for (int j = 0; j < BS; j++) {
                int i = idx[j];
                float[] pxh = i < BS / 2 ? px0 : px1, pxo = i < BS / 2 ? px1 : px0;
                float[] pwh = i < BS / 2 ? pw0 : pw1, pwo = i < BS / 2 ? pw1 : pw0;
                pxh[j + 1] = pxh[j] + weight[i] * x[xb + i];
                pxo[j + 1] = pxo[j];
                pwh[j + 1] = pwh[j] + weight[i];
                pwo[j + 1] = pwo[j];
            }
            // ggml evaluates q2 = tws*v2*v2 + pw[i1]*c1 + pw[i2]*c2 left to right for every split; the products and
            // the first sum do not depend on i2, so they are taken out of the loops (same floats, fewer operations)
            float tp0 = px0[BS] * p2, tm0 = px0[BS] * m2, tp1 = px1[BS] * p2, tm1 = px1[BS] * m2;
            float wp0 = pw0[BS] * p2 * p2, wm0 = pw0[BS] * m2 * m2, wp1 = pw1[BS] * p2 * p2, wm1 = pw1[BS] * m2 * m2;
            for (int i = 0; i <= BS; i++) {
                b0p[i] = pw0[i] * cp2;
                b0m[i] = pw0[i] * cm2;
                b1p[i] = pw1[i] * cp2;
                b1m[i] = pw1[i] * cm2;
            }
            for (int i1 = 0; i1 <= BS; i1++) {
                float x0 = px0[i1], x1 = px1[i1];
                float ap0 = wp0 + pw0[i1] * cp1, am0 = wm0 + pw0[i1] * cm1, ap1 = wp1 + pw1[i1] * cp1, am1 = wm1 + pw1[i1] * cm1;
                for (int i2 = i1; i2 <= BS; i2++) {
                    float sx0 = x0 + px0[i2], sx1 = x1 + px1[i2];
                    float qxP0 = tp0 - sx0, qxM0 = tm0 - sx0, qxP1 = tp1 - sx1, qxM1 = tm1 - sx1;
                    float q2P0 = ap0 + b0p[i2], q2M0 = am0 + b0m[i2], q2P1 = ap1 + b1p[i2], q2M1 = am1 + b1m[i2];
                    // the four delta-sign pairs (+,+), (+,-), (-,+), (-,-) in ggml's order
                    float s = qxP0 + qxP1, t = q2P0 + q2P1;
                    if (t > 0 && s * s > bestScore * t) { scale = s / t; bestScore = scale * s; besti1 = i1; besti2 = i2; bestK = 0; }
                    s = qxP0 + qxM1;
                    t = q2P0 + q2M1;
                    if (t > 0 && s * s > bestScore * t) { scale = s / t; bestScore = scale * s; besti1 = i1; besti2 = i2; bestK = 1; }
                    s = qxM0 + qxP1;
                    t = q2M0 + q2P1;
                    if (t > 0 && s * s > bestScore * t) { scale = s / t; bestScore = scale * s; besti1 = i1; besti2 = i2; bestK = 2; }
                    s = qxM0 + qxM1;
                    t = q2M0 + q2M1;
                    if (t > 0 && s * s > bestScore * t) { scale = s / t; bestScore = scale * s; besti1 = i1; besti2 = i2; bestK = 3; }
                }
            }
            this.i1 = besti1;
            this.i2 = besti2;
            this.k = bestK;
            this.scale = scale;
        }

        /** The search before PR 28706: every split's four sums accumulated element by element, in sorted order. */
        void searchPerElement(float[] x, int xb, float[] weight, int[] idx, float max) {
            float bestScore = -Float.MAX_VALUE, scale = max;
            int besti1 = -1, besti2 = -1, bestK = -1;
            for (int i1 = 0; i1 <= BS; i1++) {
                for (int i2 = i1; i2 <= BS; i2++) {
                    Arrays.fill(sumqx, 0);
                    Arrays.fill(sumq2, 0);
                    for (int j = 0; j < BS; j++) {
                        int i = idx[j];
                        int level = j < i1 ? 0 : j < i2 ? 1 : 2;
                        float p = IQ1_PLUS[level], m = IQ1_MINUS[level];
                        float w = weight[i], xi = x[xb + i];
                        // sums 0..3 pair the delta signs (+,+), (+,-), (-,+), (-,-) of the first and second half
                        boolean first = i < BS / 2;
                        float b = first ? p : m, c = first ? m : p;
                        sumqx[0] += w * p * xi;
                        sumqx[1] += w * b * xi;
                        sumqx[2] += w * c * xi;
                        sumqx[3] += w * m * xi;
                        sumq2[0] += w * p * p;
                        sumq2[1] += w * b * b;
                        sumq2[2] += w * c * c;
                        sumq2[3] += w * m * m;
                    }
                    for (int k = 0; k < 4; k++) {
                        if (sumq2[k] > 0 && sumqx[k] * sumqx[k] > bestScore * sumq2[k]) {
                            scale = sumqx[k] / sumq2[k];
                            bestScore = scale * sumqx[k];
                            besti1 = i1;
                            besti2 = i2;
                            bestK = k;
                        }
                    }
                }
            }
            this.i1 = besti1;
            this.i2 = besti2;
            this.k = bestK;
            this.scale = scale;
        }
    }

    private static void weights(float[] x, int xb, float[] importance, int qwo, float sigma2, float[] weight) {
        if (importance != null) {
            IqSearch.imatrixWeights(x, xb, importance, qwo, sigma2, weight, BS);
        } else {
            for (int i = 0; i < BS; i++) weight[i] = x[xb + i] * x[xb + i];
        }
    }
}
