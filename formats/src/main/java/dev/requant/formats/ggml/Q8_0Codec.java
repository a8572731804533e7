package dev.requant.formats.ggml;

import dev.requant.formats.io.LittleEndian;
import java.lang.foreign.MemorySegment;

/**
 * Q8_0: 34-byte blocks of 32, {@code fp16 d; int8 qs[32]}, value = qs[j]*d. The encoder is quantize_row_q8_0_ref;
 * llama.cpp's quantize_q8_0 ignores the imatrix, so this one does too.
 */
class Q8_0Codec implements BlockCodec {
    static final int QK = 32;
    static final int BLOCK_BYTES = 34;

    @Override public GgmlType type() { return GgmlType.Q8_0; }

    @Override
    public void decode(MemorySegment src, long srcOffset, float[] dst, int dstOffset, int n) {
        for (int b = 0; b < n / QK; b++) {
            long base = srcOffset + (long) b * BLOCK_BYTES;
            float d = Float16.toFloat(src.get(LittleEndian.SHORT, base));
            int o = dstOffset + b * QK;
            for (int j = 0; j < QK; j++) dst[o + j] = src.get(LittleEndian.BYTE, base + 2 + j) * d;
        }
    }

    @Override
    public void encodeRow(float[] x, int srcOffset, int n, float[] importance, MemorySegment dst, long dstOffset) {
        for (int b = 0; b < n / QK; b++) encodeBlock(x, srcOffset + b * QK, dst, dstOffset + (long) b * BLOCK_BYTES);
    }

    /** quantize_row_q8_0_ref for one block. */
    static void encodeBlock(float[] x, int o, MemorySegment dst, long base) {
        float amax = 0f;
        for (int j = 0; j < QK; j++) {
            float v = Math.abs(x[o + j]);
            amax = amax > v ? amax : v; // ggml's MAX(a, b): a NaN is kept only until the next element
        }
        float d = amax / ((1 << 7) - 1);
        float id = d != 0f ? 1.0f / d : 0.0f;
        dst.set(LittleEndian.SHORT, base, Float16.fromFloat(d));
        for (int j = 0; j < QK; j++) {
            dst.set(LittleEndian.BYTE, base + 2 + j, (byte) Rounding.cvtt(Rounding.roundf(x[o + j] * id)));
        }
    }
}
