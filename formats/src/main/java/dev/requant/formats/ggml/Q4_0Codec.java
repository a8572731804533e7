package dev.requant.formats.ggml;

import dev.requant.formats.io.LittleEndian;
import java.lang.foreign.MemorySegment;

/**
 * Q4_0: 18-byte blocks of 32, {@code fp16 d; uint8 qs[16]}; element j in the low nibble of qs[j], element j+16 in
 * the high nibble; value = (q-8)*d. Without importance the encoder is quantize_row_q4_0_ref (d = signed extremum/-8);
 * with importance it is quantize_row_q4_0_impl (make_qx_quants with weights imatrix*sqrt(sigma2_row + x^2)).
 */
class Q4_0Codec implements BlockCodec {
    static final int QK = 32;
    static final int BLOCK_BYTES = 18;

    @Override public GgmlType type() { return GgmlType.Q4_0; }

    @Override public boolean usesImportance() { return true; }

    @Override
    public void decode(MemorySegment src, long srcOffset, float[] dst, int dstOffset, int n) {
        for (int b = 0; b < n / QK; b++) {
            long base = srcOffset + (long) b * BLOCK_BYTES;
            float d = Float16.toFloat(src.get(LittleEndian.SHORT, base));
            int o = dstOffset + b * QK;
            for (int j = 0; j < QK / 2; j++) {
                int q = src.get(LittleEndian.BYTE, base + 2 + j) & 0xFF;
                dst[o + j] = ((q & 0x0F) - 8) * d;
                dst[o + j + QK / 2] = ((q >>> 4) - 8) * d;
            }
        }
    }

    @Override
    public void encodeRow(float[] x, int srcOffset, int n, float[] importance, MemorySegment dst, long dstOffset) {
        if (importance != null) {
            encodeRowWeighted(x, srcOffset, n, importance, dst, dstOffset);
            return;
        }
        for (int b = 0; b < n / QK; b++) encodeBlockRef(x, srcOffset + b * QK, dst, dstOffset + (long) b * BLOCK_BYTES);
    }

    /** quantize_row_q4_0_ref for one block. */
    static void encodeBlockRef(float[] x, int o, MemorySegment dst, long base) {
        float amax = 0f, max = 0f;
        for (int j = 0; j < QK; j++) {
            float v = x[o + j];
            if (amax < Math.abs(v)) {
                amax = Math.abs(v);
                max = v;
            }
        }
        float d = max / -8;
        float id = d != 0f ? 1.0f / d : 0.0f;
        dst.set(LittleEndian.SHORT, base, Float16.fromFloat(d));
        for (int j = 0; j < QK / 2; j++) {
            float x0 = x[o + j] * id;
            float x1 = x[o + QK / 2 + j] * id;
            int xi0 = Math.min(15, (byte) Rounding.cvtt(x0 + 8.5f)) & 0xFF;
            int xi1 = Math.min(15, (byte) Rounding.cvtt(x1 + 8.5f)) & 0xFF;
            dst.set(LittleEndian.BYTE, base + 2 + j, (byte) (xi0 | (xi1 << 4)));
        }
    }

    /** quantize_row_q4_0_impl with quant_weights. */
    private static void encodeRowWeighted(float[] x, int xo, int n, float[] qw, MemorySegment dst, long dstOffset) {
        float[] weight = new float[QK];
        byte[] L = new byte[QK];
        float sigma2 = ImportanceWeights.rowSigma2(x, xo, n);
        for (int ib = 0; ib < n / QK; ++ib) {
            ImportanceWeights.sigmaWeights(x, xo + QK * ib, qw, QK * ib, sigma2, weight, 0, QK);
            float d = QuantFit.makeQxQuants(QK, 8, x, xo + QK * ib, L, 0, 1, weight, 0);
            long base = dstOffset + (long) ib * BLOCK_BYTES;
            dst.set(LittleEndian.SHORT, base, Float16.fromFloat(d));
            for (int j = 0; j < 16; ++j) dst.set(LittleEndian.BYTE, base + 2 + j, (byte) (L[j] | (L[j + 16] << 4)));
        }
    }
}
