package dev.requant.formats.ggml;

import dev.requant.formats.io.LittleEndian;
import java.lang.foreign.MemorySegment;

/**
 * Q1_0 (1 bit): 18-byte blocks of 128, {@code fp16 d; uint8 qs[16]}; element j is bit j%8 of qs[j/8], value = +d for
 * a set bit and -d otherwise. The encoder is quantize_row_q1_0_ref: d = mean |x|, the bit is x >= 0. llama.cpp's
 * quantize_q1_0 runs the same code with an imatrix, so the importance is ignored here too.
 */
class Q1_0Codec implements BlockCodec {
    static final int QK = 128;
    static final int BLOCK_BYTES = 18;

    @Override public GgmlType type() { return GgmlType.Q1_0; }

    @Override
    public void decode(MemorySegment src, long srcOffset, float[] dst, int dstOffset, int n) {
        for (int b = 0; b < n / QK; b++) {
            long base = srcOffset + (long) b * BLOCK_BYTES;
            float d = Float16.toFloat(src.get(LittleEndian.SHORT, base));
            float negD = -d;
            int o = dstOffset + b * QK;
            for (int j = 0; j < QK; ++j) {
                int bit = ((src.get(LittleEndian.BYTE, base + 2 + j / 8) & 0xFF) >> (j % 8)) & 1;
                dst[o + j] = bit != 0 ? d : negD;
            }
        }
    }

    @Override
    public void encodeRow(float[] x, int xo, int n, float[] importance, MemorySegment dst, long dstOffset) {
        for (int b = 0; b < n / QK; b++) encodeBlock(x, xo + b * QK, dst, dstOffset + (long) b * BLOCK_BYTES);
    }

    /** quantize_row_q1_0_ref for one block. */
    static void encodeBlock(float[] x, int o, MemorySegment dst, long base) {
        float sumAbs = 0.0f;
        for (int j = 0; j < QK; j++) sumAbs += Math.abs(x[o + j]);
        dst.set(LittleEndian.SHORT, base, Float16.fromFloat(sumAbs / QK));
        for (int k = 0; k < QK / 8; ++k) {
            int bits = 0;
            for (int b = 0; b < 8; ++b) if (x[o + 8 * k + b] >= 0.0f) bits |= 1 << b;
            dst.set(LittleEndian.BYTE, base + 2 + k, (byte) bits);
        }
    }
}
