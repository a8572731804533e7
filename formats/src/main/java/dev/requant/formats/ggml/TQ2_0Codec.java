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

    /** Blocks encoded into a scratch array before one copy to the destination. */
    private static final int RUN = 64;

    /**
     * quantize_row_tq2_0_ref, a run of blocks at a time: blocks of finite values through {@link UnitCodes}, the rest
     * through {@link #encodeBlock}; the same bytes either way (codes 0..2, so ggml's {@code xi & 3} keeps them whole).
     */
    @Override
    public void encodeRow(float[] x, int xo, int n, float[] importance, MemorySegment dst, long dstOffset) {
        int blocks = n / QK_K;
        byte[] run = new byte[Math.min(blocks, RUN) * BLOCK_BYTES];
        for (int b0 = 0; b0 < blocks; b0 += RUN) {
            int count = Math.min(RUN, blocks - b0);
            for (int b = b0; b < b0 + count; b++) {
                int o = xo + b * QK_K, p = (b - b0) * BLOCK_BYTES;
                float amax = UnitCodes.finiteLargest(x, o, QK_K);
                if (amax != amax) { // Inf, NaN or a subnormal amax: the transliteration, then its bytes into the run
                    encodeBlock(x, o, MemorySegment.ofArray(run), p);
                    continue;
                }
                float id = amax != 0 ? 1.0f / amax : 0.0f;
                Q4_KCodec.putShort(run, p + D, Float16.fromFloat(amax));
                for (int j = 0; j < 64; ++j) { // byte j: elements i, i+32, i+64, i+96 of i = 4*(j - j%32) + j%32
                    int i = o + 3 * (j & 32) + j;
                    run[p + j] = (byte) (UnitCodes.code(x[i] * id) | UnitCodes.code(x[i + 32] * id) << 2
                            | UnitCodes.code(x[i + 64] * id) << 4 | UnitCodes.code(x[i + 96] * id) << 6);
                }
            }
            MemorySegment.copy(run, 0, dst, LittleEndian.BYTE, dstOffset + (long) b0 * BLOCK_BYTES, count * BLOCK_BYTES);
        }
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
