package dev.requant.formats.ggml;

import static dev.requant.formats.ggml.IqSearch.max;
import static dev.requant.formats.ggml.Rounding.nearestInt;

import dev.requant.formats.io.LittleEndian;
import java.lang.foreign.MemorySegment;
import java.util.Arrays;

/**
 * IQ2_XS: 74-byte super-blocks of 256, {@code fp16 d; uint16 qs[32]; uint8 scales[8]}: each group of 8 elements is one
 * uint16, a 9-bit {@link IqGrid#IQ2_XS} point and its 7-bit sign field (eighth sign implied, even count); each
 * 16-element half of a 32-element sub-block has a 4-bit scale; value = d*(0.5+scale)*0.25 * grid * sign.
 * Encoder: quantize_row_iq2_xs_impl, which needs importance (ggml asserts without it; this codec refuses).
 */
final class IQ2_XSCodec implements BlockCodec {
    /** Search neighbours with the Vector API (same bytes as the scalar reference, which has this false). */
    private final boolean vector;

    IQ2_XSCodec() {
        this(false);
    }

    IQ2_XSCodec(boolean vector) {
        this.vector = vector;
    }

    static final int QK_K = 256;
    static final int BLOCK_BYTES = 74;

    @Override public GgmlType type() { return GgmlType.IQ2_XS; }

    @Override public boolean usesImportance() { return true; }

    @Override public boolean requiresImportance() { return true; }

    @Override
    public void decode(MemorySegment src, long srcOffset, float[] dst, int dstOffset, int n) {
        byte[] blk = new byte[BLOCK_BYTES];
        float[] values = IqGrid.IQ2_XS.values;
        for (int i = 0; i < n / QK_K; i++) {
            MemorySegment.copy(src, LittleEndian.BYTE, srcOffset + (long) i * BLOCK_BYTES, blk, 0, BLOCK_BYTES);
            float d = Float16.toFloat(Q4_KCodec.getShort(blk, 0));
            int y = dstOffset + i * QK_K;
            for (int ib = 0; ib < 8; ib++) {
                int sc = blk[66 + ib] & 0xFF;
                float db0 = d * (0.5f + (sc & 0xF)) * 0.25f;
                float db1 = d * (0.5f + (sc >> 4)) * 0.25f;
                for (int l = 0; l < 4; l++) {
                    int q = Q4_KCodec.getShort(blk, 2 + 2 * (4 * ib + l)) & 0xFFFF;
                    int g = (q & 511) * 8;
                    int signs = IqGrid.signs7(q >> 9);
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
        if (importance == null) {
            throw new IllegalArgumentException("IQ2_XS needs an importance matrix (imatrix): ggml cannot quantize to it without one");
        }
        IqGrid grid = IqGrid.IQ2_XS;
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
            float sigma2 = IqSearch.sumOfSquares(x, xbl) / QK_K;
            for (int ib = 0; ib < 16; ib++) {
                int xb = xbl + 16 * ib;
                IqSearch.imatrixWeights(x, xb, importance, QK_K * ibl + 16 * ib, sigma2, weight, 16);
                for (int i = 0; i < 16; i++) waux[i] = (float) Math.sqrt(weight[i]);
                for (int k = 0; k < 2; k++) signs[k] = IqSearch.evenSigns(x, xb + 8 * k, weight, 8 * k, xval, 8 * k);
                float max = xval[0];
                for (int i = 1; i < 16; i++) max = max(max, xval[i]);
                if (max < IqSearch.GROUP_MAX_EPS) {
                    scales[ib] = 0;
                    continue;
                }
                float scale = IqSearch.searchScale(grid, 16, xval, weight, waux, max, 9, 0.1f, false, t);
                if (scale < 0) {
                    scale = -scale;
                    for (int k = 0; k < 2; k++) signs[k] = ~signs[k] & 127;
                }
                for (int k = 0; k < 2; k++) {
                    Q4_KCodec.putShort(blk, 2 + 2 * (2 * ib + k), (short) (IqSearch.gridIndex(grid, t.L, k) | signs[k] << 9));
                }
                scales[ib] = scale;
                maxScale = max(maxScale, scale);
            }
            if (maxScale == 0) {
                Arrays.fill(blk, (byte) 0);
            } else {
                float d = maxScale / 31;
                Q4_KCodec.putShort(blk, 0, Float16.fromFloat(d));
                float id = 1 / d;
                for (int ib = 0; ib < 16; ib++) {
                    int l = Math.max(0, Math.min(15, nearestInt(0.5f * (id * scales[ib] - 1))));
                    blk[66 + ib / 2] |= (byte) (ib % 2 == 0 ? l : l << 4);
                }
            }
            MemorySegment.copy(blk, 0, dst, LittleEndian.BYTE, dstOffset + (long) ibl * BLOCK_BYTES, BLOCK_BYTES);
        }
    }
}
