package dev.requant.formats.ggml;

import static dev.requant.formats.ggml.IqSearch.level;
import static dev.requant.formats.ggml.IqSearch.max;
import static dev.requant.formats.ggml.Rounding.nearestInt;

import dev.requant.formats.io.LittleEndian;
import java.lang.foreign.MemorySegment;
import java.util.Arrays;

/**
 * IQ2_XXS: 66-byte super-blocks of 256, {@code fp16 d; uint16 qs[32]}: per 32-element sub-block two uint32, the first
 * holding the {@link IqGrid#IQ2_XXS} points (one byte each) of its four groups of 8, the second their 7-bit sign fields
 * (eighth sign implied, even count) and a 4-bit scale in the top bits; value = d*(0.5+scale)*0.25 * grid * sign.
 * Encoder: quantize_row_iq2_xxs_impl, which needs importance (ggml asserts without it; this codec refuses).
 */
class IQ2_XXSCodec extends IqGroups.Codec {
    static final int BLOCK_BYTES = 66;
    private static final int K_MAX_Q = 3;

    @Override public GgmlType type() { return GgmlType.IQ2_XXS; }

    @Override public boolean requiresImportance() { return true; }

    @Override IqGrid grid() { return IqGrid.IQ2_XXS; }

    @Override
    void groups(byte[] blk, IqGroups g) {
        float d = Float16.toFloat(Q4_KCodec.getShort(blk, 0));
        for (int ib = 0; ib < 8; ib++) {
            int aux1 = IQ3_XXSCodec.getInt(blk, 2 + 8 * ib + 4);
            float db = d * (0.5f + (aux1 >>> 28)) * 0.25f;
            for (int l = 0; l < 4; l++) {
                g.point8(4 * ib + l, db, blk[2 + 8 * ib + l] & 0xFF);
                g.signs[4 * ib + l] = IqGrid.signs7((aux1 >>> (7 * l)) & 127);
            }
        }
    }

    @Override
    public void encodeRow(float[] x, int xo, int n, float[] importance, MemorySegment dst, long dstOffset) {
        if (importance == null) {
            throw new IllegalArgumentException("IQ2_XXS needs an importance matrix (imatrix): ggml cannot quantize to it without one");
        }
        IqGrid grid = IqGrid.IQ2_XXS;
        IqGrid.Search search = grid.search();
        byte[] blk = new byte[BLOCK_BYTES];
        float[] scales = new float[8];
        float[] weight = new float[32];
        float[] xval = new float[32];
        float[] waux = new float[32];
        byte[] L = new byte[32];
        byte[] Laux = new byte[32];
        int[] signs = new int[4];
        float[] terms = new float[72];
        for (int ibl = 0; ibl < n / QK_K; ibl++) {
            Arrays.fill(blk, (byte) 0);
            int xbl = xo + QK_K * ibl;
            float maxScale = 0;
            float sigma2 = IqSearch.sumOfSquares(x, xbl) / QK_K;
            for (int ib = 0; ib < 8; ib++) {
                int xb = xbl + 32 * ib;
                IqSearch.imatrixWeights(x, xb, importance, QK_K * ibl + 32 * ib, sigma2, weight, 32);
                for (int i = 0; i < 32; i++) waux[i] = (float) Math.sqrt(weight[i]);
                for (int k = 0; k < 4; k++) signs[k] = IqSearch.evenSigns(x, xb + 8 * k, weight, 8 * k, xval, 8 * k);
                float max = xval[0];
                for (int i = 1; i < 32; i++) max = max(max, xval[i]);
                if (max < IqSearch.GROUP_MAX_EPS) {
                    scales[ib] = 0;
                    continue;
                }
                // unlike the other IQ2/IQ3 encoders, the trial scales are spread around make_qp_quants' fit of the levels
                float scale = QuantFit.makeQpQuants(32, K_MAX_Q + 1, xval, 0, L, 0, weight, 0);
                float effMax = scale * K_MAX_Q;
                if (effMax <= 0) {
                    scales[ib] = 0;
                    continue;
                }
                float best = 0;
                for (int is = -6; is <= 6; is++) {
                    float id = (2 * K_MAX_Q - 1 + is * 0.1f) / effMax;
                    float thisScale = 1 / id;
                    for (int k = 0; k < 4; k++) {
                        int u = 0;
                        for (int i = 0; i < 8; i++) {
                            int l = level(id, xval[8 * k + i], K_MAX_Q - 1);
                            Laux[8 * k + i] = (byte) l;
                            u |= l << (2 * i);
                        }
                        int gi = search.map[u];
                        if (gi < 0) IqSearch.bestNeighbour(grid, search.neighbours, -gi - 1, xval, 8 * k, waux, 8 * k, thisScale, Laux, 8 * k, terms);
                    }
                    float sumqx = 0, sumq2 = 0;
                    for (int i = 0; i < 32; i++) {
                        float w = weight[i];
                        float q = 2 * Laux[i] + 1;
                        sumqx += w * xval[i] * q;
                        sumq2 += w * q * q;
                    }
                    if (sumq2 > 0 && sumqx * sumqx > best * sumq2) {
                        scale = sumqx / sumq2;
                        best = scale * sumqx;
                        System.arraycopy(Laux, 0, L, 0, 32);
                    }
                }
                if (scale > 0) {
                    float id = 1 / scale;
                    for (int k = 0; k < 4; k++) {
                        int u = 0;
                        for (int i = 0; i < 8; i++) u |= level(id, xval[8 * k + i], K_MAX_Q - 1) << (2 * i);
                        int gi = search.map[u];
                        if (gi < 0) gi = IqSearch.bestNeighbour(grid, search.neighbours, -gi - 1, xval, 8 * k, waux, 8 * k, scale, L, 8 * k, terms);
                        System.arraycopy(grid.levels, gi * 8, L, 8 * k, 8);
                    }
                    scale = IqSearch.refitScale(xval, weight, L, 32, scale);
                }
                if (scale < 0) {
                    scale = -scale;
                    for (int k = 0; k < 4; k++) signs[k] = ~signs[k] & 127;
                }
                int packedSigns = 0;
                for (int k = 0; k < 4; k++) {
                    blk[2 + 8 * ib + k] = (byte) IqSearch.gridIndex(grid, L, k);
                    packedSigns |= signs[k] << (7 * k);
                }
                IQ3_XXSCodec.putInt(blk, 2 + 8 * ib + 4, packedSigns);
                scales[ib] = scale;
                maxScale = max(maxScale, scale);
            }
            if (maxScale == 0) {
                Arrays.fill(blk, (byte) 0);
            } else {
                float d = maxScale / 31;
                Q4_KCodec.putShort(blk, 0, Float16.fromFloat(d));
                float id = 1 / d;
                for (int ib = 0; ib < 8; ib++) {
                    int l = Math.max(0, Math.min(15, nearestInt(0.5f * (id * scales[ib] - 1))));
                    int o = 2 + 8 * ib + 4;
                    IQ3_XXSCodec.putInt(blk, o, IQ3_XXSCodec.getInt(blk, o) | l << 28);
                }
            }
            MemorySegment.copy(blk, 0, dst, LittleEndian.BYTE, dstOffset + (long) ibl * BLOCK_BYTES, BLOCK_BYTES);
        }
    }
}
