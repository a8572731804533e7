package dev.requant.formats.ggml;

import dev.requant.formats.io.LittleEndian;
import java.lang.foreign.MemorySegment;

/**
 * Q2_0 (2 bits): 18-byte blocks of 64, {@code fp16 d; uint8 qs[16]}; element j in bits 2*(j%4) of qs[j/4] as q+1,
 * value = (q-1)*d for q+1 = 0..3 (-d, 0, d, 2d). The encoder is quantize_row_q2_0_ref: d = largest magnitude, q =
 * roundf(x/d) clamped to [-1, 2]. llama.cpp's quantize_q2_0 runs the same code with an imatrix, so the importance is
 * ignored here too.
 */
class Q2_0Codec implements BlockCodec {
    static final int QK = 64;
    static final int BLOCK_BYTES = 18;

    @Override public GgmlType type() { return GgmlType.Q2_0; }

    @Override
    public void decode(MemorySegment src, long srcOffset, float[] dst, int dstOffset, int n) {
        for (int b = 0; b < n / QK; b++) {
            long base = srcOffset + (long) b * BLOCK_BYTES;
            float d = Float16.toFloat(src.get(LittleEndian.SHORT, base));
            int o = dstOffset + b * QK;
            for (int j = 0; j < QK; ++j) {
                int q = ((src.get(LittleEndian.BYTE, base + 2 + j / 4) & 0xFF) >> (2 * (j % 4))) & 3;
                dst[o + j] = (q - 1) * d;
            }
        }
    }

    /** The fast path (one run of 64 blocks per copy), and the transliteration for the blocks it leaves. */
    private static final UnitCodes.Rows ROWS =
            new UnitCodes.Rows(QK, BLOCK_BYTES, 0, 64, Q2_0Codec::codes, Q2_0Codec::encodeBlock);

    /**
     * quantize_row_q2_0_ref, a run of blocks at a time: blocks of finite values through {@link UnitCodes} (one
     * branch-free conversion per value instead of roundf's range check and double floor and the C conversion's range
     * checks), the rest through {@link #encodeBlock}; the same bytes either way.
     */
    @Override
    public void encodeRow(float[] x, int xo, int n, float[] importance, MemorySegment dst, long dstOffset) {
        ROWS.encode(x, xo, n, dst, dstOffset);
    }

    /** The packed codes of a block of finite values: four to a byte, the first in the low bits. */
    private static void codes(float[] x, int o, float id, byte[] run, int p) {
        for (int k = 0; k < QK / 4; ++k) {
            int i = o + 4 * k;
            run[p + 2 + k] = (byte) (UnitCodes.code(x[i] * id) | UnitCodes.code(x[i + 1] * id) << 2
                    | UnitCodes.code(x[i + 2] * id) << 4 | UnitCodes.code(x[i + 3] * id) << 6);
        }
    }

    /** quantize_row_q2_0_ref for one block (the transliteration). */
    static void encodeBlock(float[] x, int o, MemorySegment dst, long base) {
        float amax = 0.0f;
        for (int j = 0; j < QK; j++) {
            float a = Math.abs(x[o + j]);
            if (a > amax) amax = a;
        }
        float id = amax > 0.0f ? 1.0f / amax : 0.0f;
        dst.set(LittleEndian.SHORT, base, Float16.fromFloat(amax));
        for (int k = 0; k < QK / 4; ++k) {
            int bits = 0;
            for (int b = 0; b < 4; ++b) {
                int q = Rounding.cvtt(Rounding.roundf(x[o + 4 * k + b] * id)) + 1; // (int)roundf(w*id) + 1
                q = Math.max(0, Math.min(3, q));
                bits |= q << (2 * b);
            }
            dst.set(LittleEndian.BYTE, base + 2 + k, (byte) bits);
        }
    }
}
