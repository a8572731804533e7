package dev.requant.formats.ggml;

import static dev.requant.formats.ggml.IqSearch.max;
import static dev.requant.formats.ggml.Rounding.nearestInt;

import dev.requant.formats.io.LittleEndian;
import java.lang.foreign.MemorySegment;
import java.util.Arrays;

/**
 * IQ3_S: 110-byte super-blocks of 256, {@code fp16 d; uint8 qs[64]; uint8 qh[8]; uint8 signs[32]; uint8 scales[4]}.
 * Each group of 4 elements is a point of {@link IqGrid#IQ3_S} (9-bit index: low byte in qs, high bit in qh), every
 * element has its own sign bit, and each 32-element sub-block a 4-bit scale; value = d*(1+2*scale) * grid * sign.
 * Encoder: quantize_row_iq3_s_impl (block size 32), with or without importance.
 */
class IQ3_SCodec extends IqGroups.Codec {
    static final int BLOCK_BYTES = 110;
    private static final int QS = 2, QH = 66, SIGNS = 74, SCALES = 106;

    @Override public GgmlType type() { return GgmlType.IQ3_S; }

    @Override IqGrid grid() { return IqGrid.IQ3_S; }

    @Override
    void groups(byte[] blk, IqGroups g) {
        float d = Float16.toFloat(Q4_KCodec.getShort(blk, 0));
        for (int ib = 0; ib < 8; ib++) {
            int sc = blk[SCALES + ib / 2] & 0xFF;
            float db = d * (1 + 2 * ((ib & 1) == 0 ? sc & 0xF : sc >> 4));
            int qh = blk[QH + ib] & 0xFF;
            for (int l = 0; l < 4; l++) {
                int k = 4 * ib + l;
                g.scale[k] = db;
                g.signs[k] = blk[SIGNS + 4 * ib + l] & 0xFF;
                g.lo[k] = ((blk[QS + 8 * ib + 2 * l] & 0xFF) | ((qh << (8 - 2 * l)) & 256)) * 4;
                g.hi[k] = ((blk[QS + 8 * ib + 2 * l + 1] & 0xFF) | ((qh << (7 - 2 * l)) & 256)) * 4;
            }
        }
    }

    @Override
    public void encodeRow(float[] x, int xo, int n, float[] importance, MemorySegment dst, long dstOffset) {
        IqGrid grid = IqGrid.IQ3_S;
        byte[] blk = new byte[BLOCK_BYTES];
        float[] scales = new float[8];
        float[] weight = new float[32];
        float[] xval = new float[32];
        float[] waux = new float[32];
        IqSearch.Trial t = new IqSearch.Trial();
        int[] signs = new int[4];
        for (int ibl = 0; ibl < n / QK_K; ibl++) {
            Arrays.fill(blk, (byte) 0);
            // ggml advances its qs and signs pointers only past sub-blocks it encodes: after an all-zero sub-block
            // the next ones are written 8 (qs) and 4 (signs) bytes early, and decode reads them in the wrong place.
            int qs = QS, sg = SIGNS;
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
                for (int k = 0; k < 4; k++) signs[k] = IqSearch.plainSigns(x, xb + 8 * k, xval, 8 * k);
                float max = xval[0];
                for (int i = 1; i < 32; i++) max = max(max, xval[i]);
                if (max == 0) {
                    scales[ib] = 0;
                    continue;
                }
                float scale = searchScale(xval, weight, waux, max, t);
                if (scale < 0) {
                    scale = -scale;
                    for (int k = 0; k < 4; k++) signs[k] = ~signs[k] & 0xFF;
                }
                for (int k = 0; k < 8; k++) {
                    int gi = IqSearch.gridIndex(grid, t.L, k);
                    blk[qs + k] = (byte) gi;
                    blk[QH + ib] |= (byte) ((gi >> 8) << k);
                }
                qs += 8;
                for (int k = 0; k < 4; k++) blk[sg + k] = (byte) signs[k];
                sg += 4;
                scales[ib] = scale;
                maxScale = max(maxScale, scale);
            }
            if (maxScale != 0) {
                float d = maxScale / 31;
                Q4_KCodec.putShort(blk, 0, Float16.fromFloat(d * 1.033f));
                float id = 1 / d;
                for (int ib = 0; ib < 8; ib += 2) {
                    int l1 = Math.max(0, Math.min(15, nearestInt(0.5f * (id * scales[ib] - 1))));
                    int l2 = Math.max(0, Math.min(15, nearestInt(0.5f * (id * scales[ib + 1] - 1))));
                    blk[SCALES + ib / 2] = (byte) (l1 | l2 << 4);
                }
            }
            MemorySegment.copy(blk, 0, dst, LittleEndian.BYTE, dstOffset + (long) ibl * BLOCK_BYTES, BLOCK_BYTES);
        }
    }

    /**
     * quantize_row_iq3_s_impl's scale search of one sub-block (19 trial scales, every group searched again at the
     * winner): the scale, and the levels in {@code t.L}. VectorIqCodecs' encoder runs it in vector lanes, to the bit.
     */
    float searchScale(float[] xval, float[] weight, float[] waux, float max, IqSearch.Trial t) {
        return IqSearch.searchScale(IqGrid.IQ3_S, 32, xval, weight, waux, max, 9, 0.2f, true, t);
    }
}
