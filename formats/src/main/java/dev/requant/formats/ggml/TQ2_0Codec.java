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

    /** The fast path (runs of 64 blocks per copy), and the transliteration for the blocks it leaves. */
    private static final UnitCodes.Rows ROWS =
            new UnitCodes.Rows(QK_K, BLOCK_BYTES, D, 64, TQ2_0Codec::codes, TQ2_0Codec::encodeBlock);

    /**
     * quantize_row_tq2_0_ref, a run of blocks at a time: blocks of finite values through {@link UnitCodes}, the rest
     * through {@link #encodeBlock}; the same bytes either way (codes 0..2, so ggml's {@code xi & 3} keeps them whole).
     */
    @Override
    public void encodeRow(float[] x, int xo, int n, float[] importance, MemorySegment dst, long dstOffset) {
        ROWS.encode(x, xo, n, dst, dstOffset);
    }

    /** The packed codes of a block of finite values: byte j holds i, i+32, i+64, i+96 for i = 4(j - j%32) + j%32. */
    private static void codes(float[] x, int o, float id, byte[] run, int p) {
        for (int j = 0; j < 64; ++j) {
            int i = o + 3 * (j & 32) + j;
            run[p + j] = (byte) (UnitCodes.code(x[i] * id) | UnitCodes.code(x[i + 32] * id) << 2
                    | UnitCodes.code(x[i + 64] * id) << 4 | UnitCodes.code(x[i + 96] * id) << 6);
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
