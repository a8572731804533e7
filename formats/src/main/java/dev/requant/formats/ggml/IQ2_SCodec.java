package dev.requant.formats.ggml;

import static dev.requant.formats.ggml.IqSearch.max;
import static dev.requant.formats.ggml.Rounding.nearestInt;

import dev.requant.formats.io.LittleEndian;
import java.lang.foreign.MemorySegment;
import java.util.Arrays;

/**
 * IQ2_S: 82-byte super-blocks of 256, {@code fp16 d; uint8 qs[64]; uint8 qh[8]; uint8 scales[8]}: each group of 8
 * elements is a 10-bit {@link IqGrid#IQ2_S} point (low byte in qs[0..31], 2 high bits in qh) with its own 8 sign bits
 * (qs[32..63]); each 16-element half of a 32-element sub-block has a 4-bit scale; value = d*(0.5+scale)*0.25 * grid *
 * sign. Encoder: quantize_row_iq2_s_impl, with or without importance.
 */
final class IQ2_SCodec implements BlockCodec {
    /** Search neighbours with the Vector API (same bytes as the scalar reference, which has this false). */
    private final boolean vector;

    IQ2_SCodec() {
        this(false);
    }

    IQ2_SCodec(boolean vector) {
        this.vector = vector;
    }

    static final int QK_K = 256;
    static final int BLOCK_BYTES = 82;
    private static final int QS = 2, SIGNS = 34, QH = 66, SCALES = 74;

    @Override public GgmlType type() { return GgmlType.IQ2_S; }

    @Override public boolean usesImportance() { return true; }

    @Override
    public void decode(MemorySegment src, long srcOffset, float[] dst, int dstOffset, int n) {
        byte[] blk = new byte[BLOCK_BYTES];
        float[] values = IqGrid.IQ2_S.values;
        for (int i = 0; i < n / QK_K; i++) {
            MemorySegment.copy(src, LittleEndian.BYTE, srcOffset + (long) i * BLOCK_BYTES, blk, 0, BLOCK_BYTES);
            float d = Float16.toFloat(Q4_KCodec.getShort(blk, 0));
            int y = dstOffset + i * QK_K;
            for (int ib = 0; ib < 8; ib++) {
                int sc = blk[SCALES + ib] & 0xFF;
                float db0 = d * (0.5f + (sc & 0xF)) * 0.25f;
                float db1 = d * (0.5f + (sc >> 4)) * 0.25f;
                int qh = blk[QH + ib] & 0xFF;
                for (int l = 0; l < 4; l++) {
                    int g = ((blk[QS + 4 * ib + l] & 0xFF) | (qh << (8 - 2 * l) & 0x300)) * 8;
                    int signs = blk[SIGNS + 4 * ib + l] & 0xFF;
                    float db = l < 2 ? db0 : db1;
                    for (int j = 0; j < 8; j++) {
                        float v = db * values[g + j];
                        dst[y + j] = (signs & (1 << j)) != 0 ? -v : v;
                    }
                    y += 8;
                }
            }
        }
    }

    @Override
    public void encodeRow(float[] x, int xo, int n, float[] importance, MemorySegment dst, long dstOffset) {
        IqGrid grid = IqGrid.IQ2_S;
        byte[] blk = new byte[BLOCK_BYTES];
        float[] scales = new float[16];
        float[] weight = new float[16];
        float[] xval = new float[16];
        float[] waux = new float[16];
        IqSearch.Trial t = new IqSearch.Trial(vector);
        int[] signs = new int[2];
        for (int ibl = 0; ibl < n / QK_K; ibl++) {
            Arrays.fill(blk, (byte) 0);
            int xbl = xo + QK_K * ibl;
            float maxScale = 0;
            float sigma2 = 2 * IqSearch.sumOfSquares(x, xbl) / QK_K;
            for (int ib = 0; ib < 16; ib++) {
                int xb = xbl + 16 * ib;
                if (importance != null) {
                    IqSearch.imatrixWeights(x, xb, importance, QK_K * ibl + 16 * ib, sigma2, weight, 16);
                } else {
                    for (int i = 0; i < 16; i++) weight[i] = 0.25f * sigma2 + x[xb + i] * x[xb + i];
                }
                for (int i = 0; i < 16; i++) waux[i] = (float) Math.sqrt(weight[i]);
                for (int k = 0; k < 2; k++) signs[k] = IqSearch.plainSigns(x, xb + 8 * k, xval, 8 * k);
                float max = xval[0];
                for (int i = 1; i < 16; i++) max = max(max, xval[i]);
                if (max < IqSearch.EPS_IQ2_S) {
                    scales[ib] = 0;
                    continue;
                }
                float scale = IqSearch.searchScale(grid, 16, xval, weight, waux, max, 9, 0.1f, false, t);
                if (scale < 0) {
                    scale = -scale;
                    for (int k = 0; k < 2; k++) signs[k] = ~signs[k] & 0xFF;
                }
                for (int k = 0; k < 2; k++) {
                    int gi = IqSearch.gridIndex(grid, t.L, k);
                    int i8 = 2 * ib + k;
                    blk[QS + i8] = (byte) gi;
                    blk[QH + i8 / 4] |= (byte) ((gi >> 8) << (2 * (i8 % 4)));
                    blk[SIGNS + i8] = (byte) signs[k];
                }
                scales[ib] = scale;
                maxScale = max(maxScale, scale);
            }
            if (maxScale != 0) {
                float d = maxScale / 31;
                Q4_KCodec.putShort(blk, 0, Float16.fromFloat(d * 0.9875f));
                float id = 1 / d;
                for (int ib = 0; ib < 16; ib++) {
                    int l = Math.max(0, Math.min(15, nearestInt(0.5f * (id * scales[ib] - 1))));
                    blk[SCALES + ib / 2] |= (byte) (ib % 2 == 0 ? l : l << 4);
                }
            }
            MemorySegment.copy(blk, 0, dst, LittleEndian.BYTE, dstOffset + (long) ibl * BLOCK_BYTES, BLOCK_BYTES);
        }
    }
}
