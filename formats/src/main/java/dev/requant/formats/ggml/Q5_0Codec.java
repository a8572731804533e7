package dev.requant.formats.ggml;

import dev.requant.formats.io.LittleEndian;
import java.lang.foreign.MemorySegment;

/**
 * Q5_0: 22-byte blocks of 32, {@code fp16 d; uint32 qh; uint8 qs[16]}: low 4 bits as Q4_0, bit 4 of element j in
 * bit j of qh; value = (q-16)*d. Encoders: quantize_row_q5_0_ref (d = signed extremum/-16); with importance
 * quantize_row_q5_0_impl (make_qx_quants(32, 16, ...)).
 */
final class Q5_0Codec implements BlockCodec {
    static final int QK = 32;
    static final int BLOCK_BYTES = 22;

    @Override public GgmlType type() { return GgmlType.Q5_0; }

    @Override public boolean usesImportance() { return true; }

    @Override
    public void decode(MemorySegment src, long srcOffset, float[] dst, int dstOffset, int n) {
        for (int b = 0; b < n / QK; b++) {
            long base = srcOffset + (long) b * BLOCK_BYTES;
            float d = Float16.toFloat(src.get(LittleEndian.SHORT, base));
            int qh = src.get(LittleEndian.INT, base + 2);
            int o = dstOffset + b * QK;
            for (int j = 0; j < QK / 2; j++) {
                int q = src.get(LittleEndian.BYTE, base + 6 + j) & 0xFF;
                int xh0 = ((qh >>> j) << 4) & 0x10;
                int xh1 = (qh >>> (j + 12)) & 0x10;
                dst[o + j] = (((q & 0x0F) | xh0) - 16) * d;
                dst[o + j + QK / 2] = (((q >>> 4) | xh1) - 16) * d;
            }
        }
    }

    @Override
    public void encodeRow(float[] x, int xo, int n, float[] importance, MemorySegment dst, long dstOffset) {
        if (importance != null) {
            encodeRowWeighted(x, xo, n, importance, dst, dstOffset);
            return;
        }
        for (int i = 0; i < n / QK; i++) {
            int o = xo + i * QK;
            long base = dstOffset + (long) i * BLOCK_BYTES;
            float amax = 0f, max = 0f;
            for (int j = 0; j < QK; j++) {
                float v = x[o + j];
                if (amax < Math.abs(v)) {
                    amax = Math.abs(v);
                    max = v;
                }
            }
            float d = max / -16;
            float id = d != 0f ? 1.0f / d : 0.0f;
            dst.set(LittleEndian.SHORT, base, Float16.fromFloat(d));
            int qh = 0;
            for (int j = 0; j < QK / 2; ++j) {
                float x0 = x[o + j] * id;
                float x1 = x[o + QK / 2 + j] * id;
                int xi0 = Math.min(31, (byte) Rounding.cvtt(x0 + 16.5f)) & 0xFF;
                int xi1 = Math.min(31, (byte) Rounding.cvtt(x1 + 16.5f)) & 0xFF;
                dst.set(LittleEndian.BYTE, base + 6 + j, (byte) ((xi0 & 0x0F) | ((xi1 & 0x0F) << 4)));
                qh |= ((xi0 & 0x10) >>> 4) << j;
                qh |= ((xi1 & 0x10) >>> 4) << (j + QK / 2);
            }
            dst.set(LittleEndian.INT, base + 2, qh);
        }
    }

    private static void encodeRowWeighted(float[] x, int xo, int n, float[] qw, MemorySegment dst, long dstOffset) {
        float[] weight = new float[QK];
        byte[] L = new byte[QK];
        float sigma2 = ImportanceWeights.rowSigma2(x, xo, n);
        for (int ib = 0; ib < n / QK; ++ib) {
            ImportanceWeights.sigmaWeights(x, xo + QK * ib, qw, QK * ib, sigma2, weight, 0, QK);
            float d = QuantFit.makeQxQuants(QK, 16, x, xo + QK * ib, L, 0, 1, weight, 0);
            long base = dstOffset + (long) ib * BLOCK_BYTES;
            dst.set(LittleEndian.SHORT, base, Float16.fromFloat(d));
            int qh = 0;
            for (int j = 0; j < 16; ++j) {
                int xi0 = L[j] & 0xFF;
                int xi1 = L[j + 16] & 0xFF;
                dst.set(LittleEndian.BYTE, base + 6 + j, (byte) ((xi0 & 0x0F) | ((xi1 & 0x0F) << 4)));
                qh |= ((xi0 & 0x10) >>> 4) << j;
                qh |= ((xi1 & 0x10) >>> 4) << (j + QK / 2);
            }
            dst.set(LittleEndian.INT, base + 2, qh);
        }
    }
}
