package dev.requant.formats.ggml;

import dev.requant.formats.io.LittleEndian;
import java.lang.foreign.MemorySegment;

/**
 * IQ4_XS: 136-byte super-blocks of 256 = 8 blocks of 32, {@code fp16 d; uint16 scales_h; uint8 scales_l[4]; uint8
 * qs[128]}: a 6-bit scale per block (low nibble in scales_l[ib/2] at bit 4*(ib%2), two high bits in scales_h at bit
 * 2*ib, stored +32); value = d*(ls-32) * kvalues_iq4nl[q], nibbles packed per block as IQ4_NL. The encoder is
 * quantize_iq4_xs (quantize_row_iq4_nl_impl on 256 elements, ntry 7), with or without importance; see
 * {@link IQ4_NLCodec#encodeSuperBlock}.
 */
class IQ4_XSCodec implements BlockCodec {
    static final int QK_K = 256;
    static final int BLOCK_BYTES = 136;

    @Override public GgmlType type() { return GgmlType.IQ4_XS; }

    @Override public boolean usesImportance() { return true; }

    @Override
    public void decode(MemorySegment src, long srcOffset, float[] dst, int dstOffset, int n) {
        byte[] blk = new byte[BLOCK_BYTES];
        for (int i = 0; i < n / QK_K; i++) {
            MemorySegment.copy(src, LittleEndian.BYTE, srcOffset + (long) i * BLOCK_BYTES, blk, 0, BLOCK_BYTES);
            float d = Float16.toFloat(Q4_KCodec.getShort(blk, 0));
            int scalesH = Q4_KCodec.getShort(blk, 2) & 0xFFFF;
            int y = dstOffset + i * QK_K;
            for (int ib = 0; ib < QK_K / 32; ++ib) {
                int ls = (((blk[4 + ib / 2] & 0xFF) >> (4 * (ib % 2))) & 0xF) | (((scalesH >> (2 * ib)) & 3) << 4);
                float dl = d * (ls - 32);
                int qs = 8 + 16 * ib;
                for (int j = 0; j < 16; ++j) {
                    int q = blk[qs + j] & 0xFF;
                    dst[y + j] = dl * IQ4_NLCodec.KVALUES[q & 0xF];
                    dst[y + j + 16] = dl * IQ4_NLCodec.KVALUES[q >> 4];
                }
                y += 32;
            }
        }
    }

    @Override
    public void encodeRow(float[] x, int xo, int n, float[] importance, MemorySegment dst, long dstOffset) {
        IQ4_NLCodec.Scratch s = new IQ4_NLCodec.Scratch(QK_K);
        byte[] blk = new byte[BLOCK_BYTES];
        for (int i = 0; i < n / QK_K; i++) {
            IQ4_NLCodec.encodeSuperBlock(QK_K, x, xo + i * QK_K, importance, i * QK_K, blk, s);
            MemorySegment.copy(blk, 0, dst, LittleEndian.BYTE, dstOffset + (long) i * BLOCK_BYTES, BLOCK_BYTES);
        }
    }
}
