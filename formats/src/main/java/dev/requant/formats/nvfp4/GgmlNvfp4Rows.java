package dev.requant.formats.nvfp4;

import dev.requant.formats.ggml.Fp4E2M1;
import dev.requant.formats.ggml.Ue4m3;
import dev.requant.formats.io.LittleEndian;
import java.lang.foreign.MemorySegment;

/**
 * Rows of a GGML NVFP4 tensor read the way the checkpoint producers read theirs: each 16-element block's scale is
 * {@code UE4M3(d) · scale} (the GGUF's {@code <name>.scale}, 1 when absent) computed first, then multiplied by the
 * E2M1 value. ggml itself decodes {@code kvalues[code] · UE4M3(d)/2} (llama-formats §2.4) and multiplies the matmul
 * result by the scale afterwards; the values are the same reals, and this order makes them the same floats as
 * ModelOpt's {@code e2m1 · (e4m3 · weight_scale_2)}.
 */
public final class GgmlNvfp4Rows {
    public static final int SUPER_BLOCK = 64;
    public static final int SUPER_BLOCK_BYTES = 36;

    private GgmlNvfp4Rows() {}

    public static long rowBytes(long cols) { return cols / SUPER_BLOCK * SUPER_BLOCK_BYTES; }

    /** The UE4M3 byte of 16-element block {@code b} of the row starting at {@code rowOffset}. */
    public static int scaleCode(MemorySegment data, long rowOffset, long b) {
        return data.get(LittleEndian.BYTE, rowOffset + (b / 4) * SUPER_BLOCK_BYTES + (b % 4)) & 0xFF;
    }

    /** The 4-bit code of element {@code c} of the row starting at {@code rowOffset}. */
    public static int code(MemorySegment data, long rowOffset, long c) {
        long sb = c / SUPER_BLOCK;
        int inSb = (int) (c % SUPER_BLOCK), s = inSb / 16, j = inSb % 16;
        int q = data.get(LittleEndian.BYTE, rowOffset + sb * SUPER_BLOCK_BYTES + 4 + s * 8 + (j & 7)) & 0xFF;
        return j < 8 ? q & 0x0F : q >>> 4;
    }

    /** Dequantizes {@code cols} values of the row at {@code rowOffset} into {@code dst[off..]}. */
    public static void dequantizeRow(MemorySegment data, long rowOffset, int cols, float scale, float[] dst, int off) {
        for (int sb = 0; sb < cols / SUPER_BLOCK; sb++) {
            long base = rowOffset + (long) sb * SUPER_BLOCK_BYTES;
            for (int s = 0; s < 4; s++) {
                float d = Ue4m3.toFloat(data.get(LittleEndian.BYTE, base + s)) * scale;
                int y = off + sb * SUPER_BLOCK + s * 16;
                for (int j = 0; j < 8; j++) {
                    int q = data.get(LittleEndian.BYTE, base + 4 + s * 8 + j) & 0xFF;
                    dst[y + j] = Fp4E2M1.toFloat(q & 0x0F) * d;
                    dst[y + j + 8] = Fp4E2M1.toFloat(q >>> 4) * d;
                }
            }
        }
    }
}
