package dev.requant.formats.ggml;

import dev.requant.formats.io.LittleEndian;
import java.lang.foreign.MemorySegment;

/**
 * MXFP4: 17-byte blocks of 32, {@code uint8 e (E8M0); uint8 qs[16]} (nibbles split as Q4_0), value =
 * E2M1(code) * 2^(e-127). The encoder is quantize_row_mxfp4_ref (e from floorf(log2f(amax)) - 2, nearest code
 * with first-wins ties); llama.cpp's quantize_mxfp4 ignores the imatrix.
 */
final class Mxfp4Codec implements BlockCodec {
    static final int QK = 32;
    static final int BLOCK_BYTES = 17;

    @Override public GgmlType type() { return GgmlType.MXFP4; }

    @Override
    public void decode(MemorySegment src, long srcOffset, float[] dst, int dstOffset, int n) {
        for (int b = 0; b < n / QK; b++) {
            long base = srcOffset + (long) b * BLOCK_BYTES;
            float d = E8m0.toFloatHalf(src.get(LittleEndian.BYTE, base));
            int o = dstOffset + b * QK;
            for (int j = 0; j < QK / 2; j++) {
                int q = src.get(LittleEndian.BYTE, base + 1 + j) & 0xFF;
                dst[o + j] = Fp4E2M1.doubled(q & 0x0F) * d;
                dst[o + j + QK / 2] = Fp4E2M1.doubled(q >>> 4) * d;
            }
        }
    }

    @Override
    public void encodeRow(float[] x, int xo, int n, float[] importance, MemorySegment dst, long dstOffset) {
        for (int i = 0; i < n / QK; i++) {
            int o = xo + i * QK;
            long base = dstOffset + (long) i * BLOCK_BYTES;
            float amax = 0.0f;
            for (int j = 0; j < QK; j++) {
                if (amax < Math.abs(x[o + j])) amax = Math.abs(x[o + j]);
            }
            int e = E8m0.mxfp4Exponent(amax);
            float d = E8m0.toFloatHalf(e);
            dst.set(LittleEndian.BYTE, base, (byte) e);
            for (int j = 0; j < QK / 2; ++j) {
                int x0 = Fp4E2M1.nearestCode(x[o + j], d);
                int x1 = Fp4E2M1.nearestCode(x[o + QK / 2 + j], d);
                dst.set(LittleEndian.BYTE, base + 1 + j, (byte) (x0 | (x1 << 4)));
            }
        }
    }
}
