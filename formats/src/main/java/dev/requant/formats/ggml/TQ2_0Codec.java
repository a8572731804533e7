package dev.requant.formats.ggml;

import dev.requant.formats.io.LittleEndian;
import java.lang.foreign.MemorySegment;

/**
 * TQ2_0 (ternary, 2.06 bits): 66-byte blocks of 256, {@code uint8 qs[64]; fp16 d}; element 128h + 32n + m in bits 2n
 * of qs[32h + m] as q+1 (0, 1, 2); value = (q-1)*d. The encoder is quantize_row_tq2_0_ref: d = largest magnitude,
 * q = lroundf(x/d). llama.cpp's quantize_tq2_0 ignores an imatrix, so this one does too.
 */
class TQ2_0Codec implements BlockCodec {
    static final int QK_K = 256;
    static final int BLOCK_BYTES = 66;
    static final int D = 64;

    @Override public GgmlType type() { return GgmlType.TQ2_0; }

    @Override
    public void decode(MemorySegment src, long srcOffset, float[] dst, int dstOffset, int n) {
        for (int b = 0; b < n / QK_K; b++) {
            long base = srcOffset + (long) b * BLOCK_BYTES;
            float d = Float16.toFloat(src.get(LittleEndian.SHORT, base + D));
            int y = dstOffset + b * QK_K;
            for (int j = 0; j < 64; j += 32) {
                for (int l = 0; l < 4; ++l) {
                    for (int m = 0; m < 32; ++m) {
                        int q = ((src.get(LittleEndian.BYTE, base + j + m) & 0xFF) >> (2 * l)) & 3;
                        dst[y++] = (float) (q - 1) * d;
                    }
                }
            }
        }
    }

    @Override
    public void encodeRow(float[] x, int xo, int n, float[] importance, MemorySegment dst, long dstOffset) {
        for (int b = 0; b < n / QK_K; b++) encodeBlock(x, xo + b * QK_K, dst, dstOffset + (long) b * BLOCK_BYTES);
    }

    /** quantize_row_tq2_0_ref for one block. */
    static void encodeBlock(float[] x, int o, MemorySegment dst, long base) {
        float id = TQ1_0Codec.inverseScale(x, o, dst, base + D);
        for (int j = 0; j < 64; j += 32) {
            for (int m = 0; m < 32; ++m) {
                int q = 0;
                for (int n = 0; n < 4; ++n) {
                    int xi = TQ1_0Codec.trit(x[o + 4 * j + m + n * 32], id);
                    q = (q + ((xi & 3) << (2 * n))) & 0xFF;
                }
                dst.set(LittleEndian.BYTE, base + j + m, (byte) q);
            }
        }
    }
}
