package dev.requant.formats.ggml;

import dev.requant.formats.io.LittleEndian;
import java.lang.foreign.MemorySegment;

/**
 * Q5_K: 176-byte super-blocks of 256, {@code fp16 d; fp16 dmin; uint8 scales[12]; uint8 qh[32]; uint8 qs[128]};
 * as Q4_K with a fifth bit per element in qh. Encoders: quantize_row_q5_K_ref (make_qkx2_quants(32, 31, ...,
 * -0.5, 0.1, 15)) and quantize_row_q5_K_impl (make_qkx3_quants + make_qp_quants).
 */
class Q5_KCodec implements BlockCodec {
    static final int QK_K = 256;
    static final int BLOCK_BYTES = 176;

    @Override public GgmlType type() { return GgmlType.Q5_K; }

    @Override public boolean usesImportance() { return true; }

    @Override
    public void decode(MemorySegment src, long srcOffset, float[] dst, int dstOffset, int n) {
        byte[] blk = new byte[BLOCK_BYTES];
        for (int i = 0; i < n / QK_K; i++) {
            MemorySegment.copy(src, LittleEndian.BYTE, srcOffset + (long) i * BLOCK_BYTES, blk, 0, BLOCK_BYTES);
            float d = Float16.toFloat(Q4_KCodec.getShort(blk, 0));
            float dmin = Float16.toFloat(Q4_KCodec.getShort(blk, 2));
            int y = dstOffset + i * QK_K;
            int ql = 48;
            int u1 = 1, u2 = 2;
            for (int is = 0; is < 8; is += 2) {
                float d1 = d * Q4_KCodec.scale(is, blk, 4);
                float m1 = dmin * Q4_KCodec.min(is, blk, 4);
                float d2 = d * Q4_KCodec.scale(is + 1, blk, 4);
                float m2 = dmin * Q4_KCodec.min(is + 1, blk, 4);
                for (int l = 0; l < 32; ++l) dst[y++] = d1 * ((blk[ql + l] & 0xF) + ((blk[16 + l] & u1) != 0 ? 16 : 0)) - m1;
                for (int l = 0; l < 32; ++l) dst[y++] = d2 * (((blk[ql + l] & 0xFF) >> 4) + ((blk[16 + l] & u2) != 0 ? 16 : 0)) - m2;
                ql += 32;
                u1 <<= 2;
                u2 <<= 2;
            }
        }
    }

    @Override
    public void encodeRow(float[] x, int xo, int n, float[] importance, MemorySegment dst, long dstOffset) {
        Q4_KCodec.encodeRun(true, x, xo, n, 1, importance, dst, dstOffset); // not encodeRows: FastQ5_K's falls back here
    }

    /** The rows as one run of super-blocks, as Q4_KCodec's. */
    @Override
    public void encodeRows(float[] x, int xo, int n, int rows, float[] importance, MemorySegment dst, long dstOffset) {
        Q4_KCodec.encodeRun(true, x, xo, n, rows, importance, dst, dstOffset);
    }

    /** The codes {@code L[lo..lo+256)} (0..31) into qh (at 16) and ql (at 48) of a zeroed-there block. */
    static void pack(byte[] L, int lo, byte[] blk) {
        int m1 = 1, m2 = 2;
        int ql = 48;
        for (int nn = lo; nn < lo + QK_K; nn += 64) {
            for (int j = 0; j < 32; ++j) {
                int l1 = L[nn + j];
                if (l1 > 15) {
                    l1 -= 16;
                    blk[16 + j] |= (byte) m1;
                }
                int l2 = L[nn + j + 32];
                if (l2 > 15) {
                    l2 -= 16;
                    blk[16 + j] |= (byte) m2;
                }
                blk[ql + j] = (byte) (l1 | (l2 << 4));
            }
            m1 <<= 2;
            m2 <<= 2;
            ql += 32;
        }
    }
}
