package dev.requant.formats.ggml;

import static dev.requant.formats.ggml.Rounding.nearestInt;

import dev.requant.formats.io.LittleEndian;
import java.lang.foreign.MemorySegment;

/**
 * Q6_K: 210-byte super-blocks of 256 = 16 sub-blocks of 16, {@code uint8 ql[128]; uint8 qh[64]; int8 scales[16];
 * fp16 d}; value = d*scale*(q-32). Encoders: quantize_row_q6_K_ref (make_qx_quants(16, 32, ..., rmse_type 1,
 * w = x^2)) and quantize_row_q6_K_impl (the same with the raw imatrix slice as weights, no sigma^2 mixing).
 */
class Q6_KCodec implements BlockCodec {
    static final int QK_K = 256;
    static final int BLOCK_BYTES = 210;

    @Override public GgmlType type() { return GgmlType.Q6_K; }

    @Override public boolean usesImportance() { return true; }

    @Override
    public void decode(MemorySegment src, long srcOffset, float[] dst, int dstOffset, int n) {
        byte[] blk = new byte[BLOCK_BYTES];
        for (int i = 0; i < n / QK_K; i++) {
            MemorySegment.copy(src, LittleEndian.BYTE, srcOffset + (long) i * BLOCK_BYTES, blk, 0, BLOCK_BYTES);
            float d = Float16.toFloat(Q4_KCodec.getShort(blk, 208));
            int y = dstOffset + i * QK_K;
            int ql = 0, qh = 128, sc = 192;
            for (int nn = 0; nn < QK_K; nn += 128) {
                for (int l = 0; l < 32; ++l) {
                    int is = l / 16;
                    int h = blk[qh + l] & 0xFF;
                    int q1 = ((blk[ql + l] & 0xF) | ((h & 3) << 4)) - 32;
                    int q2 = ((blk[ql + l + 32] & 0xF) | (((h >> 2) & 3) << 4)) - 32;
                    int q3 = (((blk[ql + l] & 0xFF) >> 4) | (((h >> 4) & 3) << 4)) - 32;
                    int q4 = (((blk[ql + l + 32] & 0xFF) >> 4) | (((h >> 6) & 3) << 4)) - 32;
                    dst[y + l] = d * blk[sc + is] * q1;
                    dst[y + l + 32] = d * blk[sc + is + 2] * q2;
                    dst[y + l + 64] = d * blk[sc + is + 4] * q3;
                    dst[y + l + 96] = d * blk[sc + is + 6] * q4;
                }
                y += 128;
                ql += 64;
                qh += 32;
                sc += 8;
            }
        }
    }

    @Override
    public void encodeRow(float[] x, int xo, int n, float[] importance, MemorySegment dst, long dstOffset) {
        encodeRun(x, xo, n, 1, importance, dst, dstOffset); // not encodeRows: FastQ6_K's falls back to this method
    }

    /** The rows as one run of super-blocks (each super-block is encoded on its own), so that the lanes fill up. */
    @Override
    public void encodeRows(float[] x, int xo, int n, int rows, float[] importance, MemorySegment dst, long dstOffset) {
        encodeRun(x, xo, n, rows, importance, dst, dstOffset);
    }

    /** Super-blocks per {@link LaneQxBlocks} call: 512 sub-blocks side by side (as Q2_KCodec.CHUNK_BLOCKS). */
    static final int CHUNK_BLOCKS = 32;

    private static final ThreadLocal<Lanes> LANES = ThreadLocal.withInitial(Lanes::new);

    /** Per-thread scratch of {@link #encodeRun}. */
    private static final class Lanes {
        final LaneQxBlocks fit = new LaneQxBlocks(CHUNK_BLOCKS * 16);
        final float[] w = new float[CHUNK_BLOCKS * QK_K], scales = new float[CHUNK_BLOCKS * 16];
        final byte[] L = new byte[CHUNK_BLOCKS * QK_K], blk = new byte[BLOCK_BYTES];
        /** The run's blocks, written to the destination with one copy (a copy per block cost its checks each time). */
        final byte[] run = new byte[CHUNK_BLOCKS * BLOCK_BYTES];
    }

    /**
     * Runs of up to {@link #CHUNK_BLOCKS} super-blocks: their sub-block fits side by side ({@link LaneQxBlocks}), then
     * each super-block's scales, codes and packing. A run holding Inf or NaN (in x, x^2 or the importance) goes block
     * by block through {@link #encodeBlock}, whose transliterated fit rounds such values as ggml does.
     */
    private static void encodeRun(float[] x, int xo, int n, int rows, float[] importance, MemorySegment dst, long dstOffset) {
        Lanes s = LANES.get();
        int total = rows * (n / QK_K);
        byte[] blk = s.blk;
        for (int b0 = 0; b0 < total; b0 += CHUNK_BLOCKS) {
            int blocks = Math.min(CHUNK_BLOCKS, total - b0);
            int xb = xo + b0 * QK_K, m = blocks * QK_K;
            float[] w = s.w;
            boolean finite;
            if (importance == null) {
                // rmse_type 1 without an imatrix: w = x^2, which is NaN or infinite wherever x is, so one check serves both.
                // Copied, then squared in place: C2 vectorizes no loop that stores into one float[] at another offset than
                // it loads from a float[] (they could be the same array), and the squares one by one cost 1-2 ns/weight.
                System.arraycopy(x, xb, w, 0, m);
                for (int i = 0; i < m; i++) w[i] = w[i] * w[i];
                finite = FiniteCheck.allFinite(w, 0, m);
            } else {
                for (int j = 0; j < blocks; j++) System.arraycopy(importance, (b0 + j) * QK_K % n, w, j * QK_K, QK_K);
                finite = FiniteCheck.allFinite(x, xb, xb + m) && FiniteCheck.allFinite(w, 0, m);
            }
            if (finite) s.fit.fit(m / 16, 16, 32, x, xb, w, 0, s.scales, 0); // codes: finish's, or codes()
            for (int j = 0; j < blocks; j++) {
                java.util.Arrays.fill(blk, (byte) 0);
                if (finite) finish(x, xb + j * QK_K, s.scales, 16 * j, s.L, j * QK_K, blk, s.fit, 16 * j);
                else encodeBlock(x, xb + j * QK_K, importance, (b0 + j) * QK_K % n, blk, s.L, s.scales);
                System.arraycopy(blk, 0, s.run, j * BLOCK_BYTES, BLOCK_BYTES);
            }
            MemorySegment.copy(s.run, 0, dst, LittleEndian.BYTE, dstOffset + (long) b0 * BLOCK_BYTES, blocks * BLOCK_BYTES);
        }
    }

    /** Per-thread scratch of the sub-block fits. */
    private static final ThreadLocal<LaneQxFit> FIT = ThreadLocal.withInitial(() -> new LaneQxFit(16));

    /** One super-block with {@link LaneQxFit} (the transliteration for sub-blocks holding Inf or NaN). */
    static void encodeBlock(float[] x, int xo, float[] qw, int qwo, byte[] blk, byte[] L, float[] scales) {
        LaneQxFit fit = FIT.get();
        for (int ib = 0; ib < QK_K / 16; ++ib) {
            int o = xo + 16 * ib;
            boolean finite = true;
            for (int j = 0; j < 16; ++j) {
                float xj = x[o + j];
                float w = qw != null ? qw[qwo + 16 * ib + j] : xj * xj; // rmse_type 1 without an imatrix
                finite &= (Float.floatToRawIntBits(xj) & 0x7f800000) != 0x7f800000;
                fit.w[j] = w;
                fit.wx[j] = w * xj;
            }
            // Inf or NaN: the transliteration, whose integer rounding such values go through as ggml's does
            scales[ib] = finite ? fit.fit(16, 32, x, o, L, 16 * ib)
                    : QuantFit.makeQxQuants(16, 32, x, o, L, 16 * ib, 1, qw, qwo + 16 * ib);
        }
        finish(x, xo, scales, 0, L, 0, blk);
    }

    /**
     * The rest of quantize_row_q6_K_impl for one super-block after the 16 sub-block fits ({@code scales[so..so+16)},
     * codes {@code L[lo..lo+256)} as make_qx_quants left them): the 8-bit scales, the fp16 d, the codes again at the
     * quantized scales, packing. Shared by the scalar and the vector encoder.
     */
    static void finish(float[] x, int xo, float[] scales, int so, byte[] L, int lo, byte[] blk) {
        finish(x, xo, scales, so, L, lo, blk, null, 0);
    }

    /** {@link #finish}, where the fit's codes of a sub-block whose scale rounds to 0 come from {@code fits}, lane0 on. */
    static void finish(float[] x, int xo, float[] scales, int so, byte[] L, int lo, byte[] blk, LaneQxBlocks fits, int lane0) {
        float maxScale = 0;
        float maxAbsScale = 0;
        for (int ib = 0; ib < QK_K / 16; ++ib) {
            float scale = scales[so + ib];
            float absScale = Math.abs(scale);
            if (absScale > maxAbsScale) {
                maxAbsScale = absScale;
                maxScale = scale;
            }
        }
        if (maxAbsScale < QuantFit.GROUP_MAX_EPS) {
            return; // all-zero block, d = fp16(0) = 0
        }
        float iscale = -128.f / maxScale;
        Q4_KCodec.putShort(blk, 208, Float16.fromFloat(1 / iscale));
        for (int ib = 0; ib < QK_K / 16; ++ib) blk[192 + ib] = (byte) Math.min(127, nearestInt(iscale * scales[so + ib]));
        float d0 = Float16.toFloat(Q4_KCodec.getShort(blk, 208));
        float[] d = SubBlockCodes.scales();
        for (int j = 0; j < QK_K / 16; ++j) d[j] = d0 * blk[192 + j];
        SubBlockCodes.requantize(x, xo, d, 32, L, lo, fits, lane0);
        int ql = 0, qh = 128;
        for (int j = 0; j < QK_K; j += 128) {
            for (int l = 0; l < 32; ++l) {
                int q1 = L[lo + j + l] & 0xF;
                int q2 = L[lo + j + l + 32] & 0xF;
                int q3 = L[lo + j + l + 64] & 0xF;
                int q4 = L[lo + j + l + 96] & 0xF;
                blk[ql + l] = (byte) (q1 | (q3 << 4));
                blk[ql + l + 32] = (byte) (q2 | (q4 << 4));
                blk[qh + l] = (byte) ((L[lo + j + l] >> 4) | ((L[lo + j + l + 32] >> 4) << 2) | ((L[lo + j + l + 64] >> 4) << 4)
                        | ((L[lo + j + l + 96] >> 4) << 6));
            }
            ql += 64;
            qh += 32;
        }
    }
}
