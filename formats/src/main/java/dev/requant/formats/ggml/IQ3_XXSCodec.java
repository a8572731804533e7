package dev.requant.formats.ggml;

import static dev.requant.formats.ggml.IqSearch.max;
import static dev.requant.formats.ggml.Rounding.nearestInt;

import dev.requant.formats.io.LittleEndian;
import java.lang.foreign.MemorySegment;
import java.util.Arrays;

/**
 * IQ3_XXS: 98-byte super-blocks of 256, {@code fp16 d; uint8 qs[64]; uint32 scales_and_signs[8]}. Each group of 4
 * elements is a point of {@link IqGrid#IQ3_XXS} (qs, one byte per group); each 32-element sub-block has a 4-bit scale
 * (top bits of its uint32) and four 7-bit sign fields for its groups of 8 (eighth sign implied, even count); value =
 * d*(0.5+scale)*0.5 * grid * sign. Encoder: quantize_row_iq3_xxs_impl (grid 256), with or without importance.
 */
class IQ3_XXSCodec extends IqGroups.Codec {
    static final int BLOCK_BYTES = 98;

    @Override public GgmlType type() { return GgmlType.IQ3_XXS; }

    @Override IqGrid grid() { return IqGrid.IQ3_XXS; }

    @Override
    void groups(byte[] blk, IqGroups g) {
        float d = Float16.toFloat(Q4_KCodec.getShort(blk, 0));
        for (int ib = 0; ib < 8; ib++) {
            int aux = getInt(blk, 66 + 4 * ib);
            float db = d * (0.5f + (aux >>> 28)) * 0.5f;
            for (int l = 0; l < 4; l++) {
                int k = 4 * ib + l;
                g.scale[k] = db;
                g.signs[k] = IqGrid.signs7((aux >>> (7 * l)) & 127);
                g.lo[k] = (blk[2 + 8 * ib + 2 * l] & 0xFF) * 4;
                g.hi[k] = (blk[2 + 8 * ib + 2 * l + 1] & 0xFF) * 4;
            }
        }
    }

    @Override
    public void encodeRow(float[] x, int xo, int n, float[] importance, MemorySegment dst, long dstOffset) {
        IqGrid grid = IqGrid.IQ3_XXS;
        byte[] blk = new byte[BLOCK_BYTES];
        float[] scales = new float[8];
        float[] weight = new float[32];
        float[] xval = new float[32];
        float[] waux = new float[32];
        IqSearch.Trial t = new IqSearch.Trial();
        int[] signs = new int[4];
        for (int ibl = 0; ibl < n / QK_K; ibl++) {
            Arrays.fill(blk, (byte) 0);
            int xbl = xo + QK_K * ibl;
            float maxScale = 0;
            float sigma2 = 2 * IqSearch.sumOfSquares(x, xbl) / QK_K;
            for (int ib = 0; ib < 8; ib++) {
                int xb = xbl + 32 * ib;
                if (importance != null) {
                    IqSearch.imatrixWeights(x, xb, importance, QK_K * ibl + 32 * ib, sigma2, weight, 32);
                } else {
                    for (int i = 0; i < 32; i++) weight[i] = x[xb + i] * x[xb + i];
                }
                for (int i = 0; i < 32; i++) waux[i] = (float) Math.sqrt(weight[i]);
                for (int k = 0; k < 4; k++) signs[k] = IqSearch.evenSigns(x, xb + 8 * k, weight, 8 * k, xval, 8 * k);
                float max = xval[0];
                for (int i = 1; i < 32; i++) max = max(max, xval[i]);
                if (max < IqSearch.EPS_IQ3_XXS) {
                    scales[ib] = 0;
                    continue;
                }
                float scale = searchScale(xval, weight, waux, max, t);
                if (scale < 0) {
                    // ggml: "should never happen" (xval >= 0 and positive weights); flip the scale and the signs
                    scale = -scale;
                    for (int k = 0; k < 4; k++) signs[k] = ~signs[k] & 127;
                }
                for (int k = 0; k < 8; k++) {
                    blk[2 + 8 * ib + k] = (byte) IqSearch.gridIndex(grid, t.L, k);
                }
                putInt(blk, 66 + 4 * ib, signs[0] | signs[1] << 7 | signs[2] << 14 | signs[3] << 21);
                scales[ib] = scale;
                maxScale = max(maxScale, scale);
            }
            if (maxScale == 0) {
                Arrays.fill(blk, (byte) 0);
            } else {
                float d = maxScale / 31;
                Q4_KCodec.putShort(blk, 0, Float16.fromFloat(d * 1.0125f));
                float id = 1 / d;
                for (int ib = 0; ib < 8; ib++) {
                    int l = Math.max(0, Math.min(15, nearestInt(0.5f * (id * scales[ib] - 1))));
                    putInt(blk, 66 + 4 * ib, getInt(blk, 66 + 4 * ib) | l << 28);
                }
            }
            MemorySegment.copy(blk, 0, dst, LittleEndian.BYTE, dstOffset + (long) ibl * BLOCK_BYTES, BLOCK_BYTES);
        }
    }

    /**
     * quantize_row_iq3_xxs_impl's scale search of one sub-block (31 trial scales, groups that came from neighbours
     * searched again at the winner): the scale, and the levels in {@code t.L}. VectorIqCodecs' encoder runs it in
     * vector lanes, to the bit.
     */
    float searchScale(float[] xval, float[] weight, float[] waux, float max, IqSearch.Trial t) {
        return IqSearch.searchScale(IqGrid.IQ3_XXS, 32, xval, weight, waux, max, 15, 0.2f, false, t);
    }

    static int getInt(byte[] b, int o) {
        return (b[o] & 0xFF) | (b[o + 1] & 0xFF) << 8 | (b[o + 2] & 0xFF) << 16 | (b[o + 3] & 0xFF) << 24;
    }

    static void putInt(byte[] b, int o, int v) {
        b[o] = (byte) v;
        b[o + 1] = (byte) (v >> 8);
        b[o + 2] = (byte) (v >> 16);
        b[o + 3] = (byte) (v >> 24);
    }
}
