package dev.requant.formats.ggml;

import dev.requant.formats.io.LittleEndian;
import java.lang.foreign.MemorySegment;

/**
 * GGML's NVFP4: 36-byte super-blocks of 64 = 4 sub-blocks of 16, {@code uint8 d[4] (UE4M3); uint8 qs[32]}; sub-block
 * s uses qs[8s..8s+7], element j in the low nibble and j+8 in the high nibble; value = E2M1(code) * UE4M3(d[s]).
 * The per-tensor global scale is not part of the block (docs 2.4). The encoder is quantize_row_nvfp4_ref, which
 * ignores the imatrix: scale = ggml_fp32_to_ue4m3(amax/6) with its quirks, codes nearest to the half scale.
 */
final class Nvfp4Codec implements BlockCodec {
    static final int QK = 64;
    static final int QK_SUB = 16;
    static final int BLOCK_BYTES = 36;

    @Override public GgmlType type() { return GgmlType.NVFP4; }

    @Override
    public void decode(MemorySegment src, long srcOffset, float[] dst, int dstOffset, int n) {
        for (int i = 0; i < n / QK; i++) {
            long base = srcOffset + (long) i * BLOCK_BYTES;
            for (int s = 0; s < QK / QK_SUB; s++) {
                float d = Ue4m3.toFloatHalf(src.get(LittleEndian.BYTE, base + s));
                int y = dstOffset + i * QK + s * QK_SUB;
                for (int j = 0; j < QK_SUB / 2; ++j) {
                    int q = src.get(LittleEndian.BYTE, base + 4 + s * (QK_SUB / 2) + j) & 0xFF;
                    dst[y + j] = Fp4E2M1.doubled(q & 0x0F) * d;
                    dst[y + j + QK_SUB / 2] = Fp4E2M1.doubled(q >>> 4) * d;
                }
            }
        }
    }

    @Override
    public void encodeRow(float[] x, int xo, int n, float[] importance, MemorySegment dst, long dstOffset) {
        for (int i = 0; i < n / QK; i++) {
            long base = dstOffset + (long) i * BLOCK_BYTES;
            for (int s = 0; s < QK / QK_SUB; s++) {
                int xb = xo + i * QK + s * QK_SUB;
                float amax = 0.0f;
                for (int j = 0; j < QK_SUB; j++) {
                    if (amax < Math.abs(x[xb + j])) amax = Math.abs(x[xb + j]);
                }
                int ue = Ue4m3.fromFloat(amax / 6.0f);
                dst.set(LittleEndian.BYTE, base + s, (byte) ue);
                float d = Ue4m3.toFloatHalf(ue);
                for (int j = 0; j < QK_SUB / 2; ++j) {
                    int x0 = Fp4E2M1.nearestCode(x[xb + j], d);
                    int x1 = Fp4E2M1.nearestCode(x[xb + QK_SUB / 2 + j], d);
                    dst.set(LittleEndian.BYTE, base + 4 + s * (QK_SUB / 2) + j, (byte) (x0 | (x1 << 4)));
                }
            }
        }
    }
}
