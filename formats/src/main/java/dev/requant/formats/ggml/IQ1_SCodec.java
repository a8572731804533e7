package dev.requant.formats.ggml;

import static dev.requant.formats.ggml.IqSearch.IQ1_MINUS;
import static dev.requant.formats.ggml.IqSearch.IQ1_PLUS;
import static dev.requant.formats.ggml.IqSearch.max;
import static dev.requant.formats.ggml.Rounding.nearestInt;

import dev.requant.formats.io.LittleEndian;
import java.lang.foreign.MemorySegment;
import java.util.Arrays;

/**
 * IQ1_S: 50-byte super-blocks of 256, {@code fp16 d; uint8 qs[32]; uint16 qh[8]}: each group of 8 elements is an
 * 11-bit {@link IqGrid#IQ1} point of values -1, 0, 1 (low byte in qs, 3 high bits in qh), and each 32-element
 * sub-block's qh has a 3-bit scale and the sign of a shift delta = +-0.125; value = d*(2*scale+1) * (grid + delta).
 * Encoder: quantize_row_iq1_s_impl, an exhaustive search of the two boundaries that split the sorted elements into
 * the three levels, which needs importance (ggml asserts without it; this codec refuses).
 */
class IQ1_SCodec extends IqGroups.Codec {
    static final int BLOCK_BYTES = 50;
    private static final int BS = 32; // IQ1S_BLOCK_SIZE
    private static final int QS = 2, QH = 34;

    @Override public GgmlType type() { return GgmlType.IQ1_S; }

    @Override public boolean requiresImportance() { return true; }

    @Override IqGrid grid() { return IqGrid.IQ1; }

    @Override boolean shifted() { return true; }

    @Override
    void groups(byte[] blk, IqGroups g) {
        float d = Float16.toFloat(Q4_KCodec.getShort(blk, 0));
        for (int ib = 0; ib < 8; ib++) {
            int qh = Q4_KCodec.getShort(blk, QH + 2 * ib) & 0xFFFF;
            float dl = d * (2 * ((qh >> 12) & 7) + 1);
            float delta = (qh & 0x8000) != 0 ? -0.125f : 0.125f;
            for (int l = 0; l < 4; l++) {
                g.point8(4 * ib + l, dl, (blk[QS + 4 * ib + l] & 0xFF) | ((qh >> (3 * l)) & 7) << 8);
                g.delta[4 * ib + l] = delta;
            }
        }
    }

    @Override
    public void encodeRow(float[] x, int xo, int n, float[] importance, MemorySegment dst, long dstOffset) {
        if (importance == null) {
            throw new IllegalArgumentException("IQ1_S needs an importance matrix (imatrix): ggml cannot quantize to it without one");
        }
        IqGrid grid = IqGrid.IQ1;
        IqGrid.Search search = grid.search();
        byte[] blk = new byte[BLOCK_BYTES];
        float[] scales = new float[QK_K / BS];
        int[] shifts = new int[QK_K / BS];
        float[] weight = new float[BS];
        float[] sumx = new float[BS + 1];
        float[] sumw = new float[BS + 1];
        float[] tailXp = new float[BS + 1], tailXm = new float[BS + 1], tailWp = new float[BS + 1], tailWm = new float[BS + 1];
        int[] idx = new int[BS];
        byte[] L = new byte[BS];
        int[] index = new int[BS / 8];
        float[] terms = new float[72];
        for (int ibl = 0; ibl < n / QK_K; ibl++) {
            Arrays.fill(blk, (byte) 0);
            int xbl = xo + QK_K * ibl;
            float maxScale = 0;
            float sigma2 = 2 * IqSearch.sumOfSquares(x, xbl) / QK_K;
            for (int ib = 0; ib < QK_K / BS; ib++) {
                int xb = xbl + BS * ib;
                IqSearch.imatrixWeights(x, xb, importance, QK_K * ibl + BS * ib, sigma2, weight, BS);
                float max = Math.abs(x[xb]);
                for (int i = 1; i < BS; i++) max = max(max, Math.abs(x[xb + i]));
                if (max < IqSearch.EPS_IQ1_S) {
                    scales[ib] = 0;
                    shifts[ib] = 1;
                    continue;
                }
                // the weighted least-squares fit is exact for every split of the sorted elements into -1, 0, +1
                IqSearch.sortedOrder(x, xb, BS, idx);
                sumx[0] = sumw[0] = 0;
                for (int j = 0; j < BS; j++) {
                    int i = idx[j];
                    sumx[j + 1] = sumx[j] + weight[i] * x[xb + i];
                    sumw[j + 1] = sumw[j] + weight[i];
                }
                float bestScore = -Float.MAX_VALUE, scale = max;
                int besti1 = -1, besti2 = -1, bestShift = 0;
                // ggml's sums (a*v0 + b*v1) + c*v2 per split, with the terms of i1 alone and of i2 alone taken out of
                // the inner loop: the same products, added in the same order
                float p0 = IQ1_PLUS[0], p1 = IQ1_PLUS[1], p2 = IQ1_PLUS[2], m0 = IQ1_MINUS[0], m1 = IQ1_MINUS[1], m2 = IQ1_MINUS[2];
                for (int i = 0; i <= BS; i++) {
                    tailXp[i] = (sumx[BS] - sumx[i]) * p2;
                    tailXm[i] = (sumx[BS] - sumx[i]) * m2;
                    tailWp[i] = (sumw[BS] - sumw[i]) * p2 * p2;
                    tailWm[i] = (sumw[BS] - sumw[i]) * m2 * m2;
                }
                for (int i1 = 0; i1 <= BS; i1++) {
                    float hx = sumx[i1] - sumx[0], hw = sumw[i1] - sumw[0];
                    float hxp = hx * p0, hxm = hx * m0, hwp = hw * p0 * p0, hwm = hw * m0 * m0;
                    for (int i2 = i1; i2 <= BS; i2++) {
                        float mx = sumx[i2] - sumx[i1], mw = sumw[i2] - sumw[i1];
                        float sumqx = hxp + mx * p1 + tailXp[i2];
                        float sumq2 = hwp + mw * p1 * p1 + tailWp[i2];
                        if (sumq2 > 0 && sumqx * sumqx > bestScore * sumq2) {
                            scale = sumqx / sumq2;
                            bestScore = scale * sumqx;
                            besti1 = i1;
                            besti2 = i2;
                            bestShift = 1;
                        }
                        sumqx = hxm + mx * m1 + tailXm[i2];
                        sumq2 = hwm + mw * m1 * m1 + tailWm[i2];
                        if (sumq2 > 0 && sumqx * sumqx > bestScore * sumq2) {
                            scale = sumqx / sumq2;
                            bestScore = scale * sumqx;
                            besti1 = i1;
                            besti2 = i2;
                            bestShift = -1;
                        }
                    }
                }
                if (besti1 < 0 || besti2 < 0 || bestShift == 0) {
                    scales[ib] = 0;
                    shifts[ib] = 1;
                    continue;
                }
                for (int j = 0; j < besti1; j++) L[idx[j]] = 0;
                for (int j = besti1; j < besti2; j++) L[idx[j]] = 1;
                for (int j = besti2; j < BS; j++) L[idx[j]] = 2;
                if (scale < 0) {
                    for (int j = 0; j < BS; j++) L[j] = (byte) (2 - L[j]);
                    scale = -scale;
                    bestShift = -bestShift;
                }
                boolean allOnGrid = true;
                float[] xx = bestShift == 1 ? IQ1_PLUS : IQ1_MINUS;
                for (int k = 0; k < BS / 8; k++) {
                    int u = 0;
                    for (int j = 0; j < 8; j++) u |= L[8 * k + j] << (2 * j);
                    int gi = search.map[u];
                    if (gi < 0) {
                        allOnGrid = false;
                        gi = IqSearch.bestNeighbourIq1(grid, search.neighbours, -gi - 1, x, xb + 8 * k, weight, 8 * k, scale, xx, L, 8 * k, terms);
                    }
                    index[k] = gi;
                }
                if (!allOnGrid) {
                    float sumqx = 0, sumq2 = 0;
                    for (int k = 0; k < BS / 8; k++) {
                        for (int j = 0; j < 8; j++) {
                            float w = weight[8 * k + j];
                            float q = xx[grid.levels[8 * index[k] + j]];
                            sumqx += w * q * x[xb + 8 * k + j];
                            sumq2 += w * q * q;
                        }
                    }
                    if (sumqx > 0 && sumq2 > 0) scale = sumqx / sumq2;
                }
                int h = 0;
                for (int k = 0; k < BS / 8; k++) {
                    blk[QS + (BS / 8) * ib + k] = (byte) index[k];
                    h |= (index[k] >> 8) << (3 * k);
                }
                Q4_KCodec.putShort(blk, QH + 2 * ib, (short) h);
                scales[ib] = scale;
                shifts[ib] = bestShift;
                maxScale = max(maxScale, scale);
            }
            if (maxScale != 0) {
                float d = maxScale / 15;
                Q4_KCodec.putShort(blk, 0, Float16.fromFloat(d * 1.125f));
                float id = 1 / d;
                for (int ib = 0; ib < QK_K / BS; ib++) {
                    int l = Math.max(0, Math.min(7, nearestInt(0.5f * (id * scales[ib] - 1))));
                    if (shifts[ib] == -1) l |= 8;
                    int qh = Q4_KCodec.getShort(blk, QH + 2 * ib);
                    Q4_KCodec.putShort(blk, QH + 2 * ib, (short) (qh | l << 12));
                }
            }
            MemorySegment.copy(blk, 0, dst, LittleEndian.BYTE, dstOffset + (long) ibl * BLOCK_BYTES, BLOCK_BYTES);
        }
    }
}
