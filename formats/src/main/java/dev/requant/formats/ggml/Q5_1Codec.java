package dev.requant.formats.ggml;

import dev.requant.formats.io.LittleEndian;
import java.lang.foreign.MemorySegment;

/**
 * Q5_1: 24-byte blocks of 32, {@code fp16 d; fp16 m; uint32 qh; uint8 qs[16]} (bits as Q5_0), value = q*d + m.
 * Encoders: quantize_row_q5_1_ref; with importance quantize_row_q5_1_impl (make_qkx3_quants(32, 31, ...)).
 */
final class Q5_1Codec implements BlockCodec {
    static final int QK = 32;
    static final int BLOCK_BYTES = 24;

    @Override public GgmlType type() { return GgmlType.Q5_1; }

    @Override public boolean usesImportance() { return true; }

    @Override
    public void decode(MemorySegment src, long srcOffset, float[] dst, int dstOffset, int n) {
        for (int b = 0; b < n / QK; b++) {
            long base = srcOffset + (long) b * BLOCK_BYTES;
            float d = Float16.toFloat(src.get(LittleEndian.SHORT, base));
            float m = Float16.toFloat(src.get(LittleEndian.SHORT, base + 2));
            int qh = src.get(LittleEndian.INT, base + 4);
            int o = dstOffset + b * QK;
            for (int j = 0; j < QK / 2; j++) {
                int q = src.get(LittleEndian.BYTE, base + 8 + j) & 0xFF;
                int xh0 = ((qh >>> j) << 4) & 0x10;
                int xh1 = (qh >>> (j + 12)) & 0x10;
                dst[o + j] = ((q & 0x0F) | xh0) * d + m;
                dst[o + j + QK / 2] = ((q >>> 4) | xh1) * d + m;
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
            float min = Float.MAX_VALUE;
            float max = -Float.MAX_VALUE;
            for (int j = 0; j < QK; j++) {
                float v = x[o + j];
                if (v < min) min = v;
                if (v > max) max = v;
            }
            float d = (max - min) / ((1 << 5) - 1);
            float id = d != 0f ? 1.0f / d : 0.0f;
            dst.set(LittleEndian.SHORT, base, Float16.fromFloat(d));
            dst.set(LittleEndian.SHORT, base + 2, Float16.fromFloat(min));
            int qh = 0;
            for (int j = 0; j < QK / 2; ++j) {
                float x0 = (x[o + j] - min) * id;
                float x1 = (x[o + QK / 2 + j] - min) * id;
                int xi0 = Rounding.cvtt(x0 + 0.5f) & 0xFF; // (uint8_t), no clamp in ggml
                int xi1 = Rounding.cvtt(x1 + 0.5f) & 0xFF;
                dst.set(LittleEndian.BYTE, base + 8 + j, (byte) ((xi0 & 0x0F) | ((xi1 & 0x0F) << 4)));
                qh |= ((xi0 & 0x10) >>> 4) << j;
                qh |= ((xi1 & 0x10) >>> 4) << (j + QK / 2);
            }
            dst.set(LittleEndian.INT, base + 4, qh);
        }
    }

    private static void encodeRowWeighted(float[] x, int xo, int n, float[] qw, MemorySegment dst, long dstOffset) {
        float[] weight = new float[QK];
        byte[] L = new byte[QK];
        byte[] Laux = new byte[QK];
        float[] min = new float[1];
        float sigma2 = ImportanceWeights.rowSigma2(x, xo, n);
        for (int ib = 0; ib < n / QK; ++ib) {
            ImportanceWeights.sigmaWeights(x, xo + QK * ib, qw, QK * ib, sigma2, weight, 0, QK);
            float d = QuantFit.makeQkx3Quants(QK, 31, x, xo + QK * ib, weight, 0, L, 0, min, 0, Laux, -0.9f, 0.05f, 36, false);
            long base = dstOffset + (long) ib * BLOCK_BYTES;
            dst.set(LittleEndian.SHORT, base, Float16.fromFloat(d));
            dst.set(LittleEndian.SHORT, base + 2, Float16.fromFloat(-min[0]));
            int qh = 0;
            for (int j = 0; j < 16; ++j) {
                int xi0 = L[j] & 0xFF;
                int xi1 = L[j + 16] & 0xFF;
                dst.set(LittleEndian.BYTE, base + 8 + j, (byte) ((xi0 & 0x0F) | ((xi1 & 0x0F) << 4)));
                qh |= ((xi0 & 0x10) >>> 4) << j;
                qh |= ((xi1 & 0x10) >>> 4) << (j + QK / 2);
            }
            dst.set(LittleEndian.INT, base + 4, qh);
        }
    }
}
