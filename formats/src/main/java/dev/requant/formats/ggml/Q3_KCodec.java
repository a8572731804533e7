package dev.requant.formats.ggml;

import static dev.requant.formats.ggml.Rounding.nearestInt;

import dev.requant.formats.io.LittleEndian;
import java.lang.foreign.MemorySegment;
import java.util.Arrays;

/**
 * Q3_K: 110-byte super-blocks of 256 = 16 sub-blocks of 16, {@code uint8 hmask[32]; uint8 qs[64]; uint8
 * scales[12]; fp16 d}: 6-bit signed scales (stored +32; low nibbles in scales[0..7], two high bits each in
 * scales[8..11]); value = d*(sc-32)*(q-4) where q's low 2 bits are in qs (packed as Q2_K) and its third bit in hmask
 * (bit j/32 of hmask[j%32]). Encoders: quantize_row_q3_K_ref (make_q3_quants(16, 4, w = x^2), scales by plain
 * rounding) and with importance quantize_row_q3_K_impl (make_qx_quants(16, 4, imatrix*sqrt(sigma2 + x^2)) with
 * sigma2 = 2*mean x^2 of the super-block, scales by make_qx_quants(16, 32, w = sum of weights)); both re-quantize
 * with the fp16-rounded scale.
 */
class Q3_KCodec implements BlockCodec {
    static final int QK_K = 256;
    static final int BLOCK_BYTES = 110;
    static final int QS = 32, SCALES = 96, D = 108;

    @Override public GgmlType type() { return GgmlType.Q3_K; }

    @Override public boolean usesImportance() { return true; }

    /** The signed 6-bit scale of sub-block j (-32..31) from the 12 bytes at {@code blk[SCALES]}. */
    static int scale(int j, byte[] blk) {
        int lo = j < 8 ? blk[SCALES + j] & 0xF : (blk[SCALES + j - 8] & 0xFF) >> 4;
        int hi = ((blk[SCALES + 8 + j % 4] & 0xFF) >> (2 * (j / 4))) & 3;
        return (lo | (hi << 4)) - 32;
    }

    @Override
    public void decode(MemorySegment src, long srcOffset, float[] dst, int dstOffset, int n) {
        byte[] blk = new byte[BLOCK_BYTES];
        for (int i = 0; i < n / QK_K; i++) {
            MemorySegment.copy(src, LittleEndian.BYTE, srcOffset + (long) i * BLOCK_BYTES, blk, 0, BLOCK_BYTES);
            float dAll = Float16.toFloat(Q4_KCodec.getShort(blk, D));
            int y = dstOffset + i * QK_K;
            int is = 0;
            int m = 1;
            for (int h = 0; h < 2; h++) {
                int q = QS + 32 * h;
                for (int shift = 0; shift < 8; shift += 2) {
                    for (int half = 0; half < 32; half += 16) {
                        float dl = dAll * scale(is++, blk);
                        for (int l = 0; l < 16; ++l) {
                            int lo = ((blk[q + half + l] & 0xFF) >> shift) & 3;
                            dst[y++] = dl * (lo - ((blk[half + l] & m) != 0 ? 0 : 4));
                        }
                    }
                    m <<= 1;
                }
            }
        }
    }

    @Override
    public void encodeRow(float[] x, int xo, int n, float[] importance, MemorySegment dst, long dstOffset) {
        encodeRun(x, xo, n, 1, importance, dst, dstOffset); // not encodeRows: FastQ3_K's falls back to this method
    }

    /** The rows as one run of super-blocks (each is encoded on its own), so that the imatrix fits' lanes fill up. */
    @Override
    public void encodeRows(float[] x, int xo, int n, int rows, float[] importance, MemorySegment dst, long dstOffset) {
        encodeRun(x, xo, n, rows, importance, dst, dstOffset);
    }

    /** Super-blocks per {@link LaneQxBlocks} call of the imatrix path (as Q2_KCodec.CHUNK_BLOCKS). */
    static final int CHUNK_BLOCKS = 32;

    private static final ThreadLocal<Lanes> LANES = ThreadLocal.withInitial(Lanes::new);

    /** Per-thread scratch of {@link #encodeRun}. */
    private static final class Lanes {
        final LaneQxBlocks lanes = new LaneQxBlocks(CHUNK_BLOCKS * 16);
        final Q3Fit q3 = new Q3Fit(16);
        final LaneQxFit qx = new LaneQxFit(16);
        final float[] w = new float[CHUNK_BLOCKS * QK_K], scales = new float[CHUNK_BLOCKS * 16], sw = new float[CHUNK_BLOCKS * 16];
        final byte[] L = new byte[CHUNK_BLOCKS * QK_K], blk = new byte[BLOCK_BYTES], Ls = new byte[16];
        /** The run's blocks, written to the destination with one copy (a copy per block cost its checks each time). */
        final byte[] run = new byte[CHUNK_BLOCKS * BLOCK_BYTES];
    }

    /**
     * Runs of up to {@link #CHUNK_BLOCKS} super-blocks. Plain: each super-block's make_q3_quants fits ({@link Q3Fit}).
     * With importance: the make_qx_quants(16, 4) fits of the whole run side by side ({@link LaneQxBlocks}); a run
     * holding Inf or NaN (in x or the weights) goes block by block through {@link LaneQxFit}, with the transliteration
     * for the sub-blocks that hold them, whose integer rounding such values go through as ggml's does.
     */
    private static void encodeRun(float[] x, int xo, int n, int rows, float[] importance, MemorySegment dst, long dstOffset) {
        Lanes s = LANES.get();
        int total = rows * (n / QK_K);
        byte[] blk = s.blk, L = s.L;
        float[] scales = s.scales, sw = s.sw, w = s.w;
        for (int b0 = 0; b0 < total; b0 += CHUNK_BLOCKS) {
            int blocks = Math.min(CHUNK_BLOCKS, total - b0);
            int xb0 = xo + b0 * QK_K, m = blocks * QK_K;
            boolean lanes = false;
            if (importance != null) {
                for (int j = 0; j < blocks; j++) {
                    int xb = xb0 + j * QK_K;
                    float sigma2 = ImportanceWeights.superBlockSigma2(x, xb); // 2*sumx2/QK_K
                    ImportanceWeights.sigmaWeights(x, xb, importance, (b0 + j) * QK_K % n, sigma2, w, j * QK_K, QK_K);
                }
                for (int g = 0; g < m / 16; g++) sw[g] = Q2_KCodec.sum16(w, 16 * g);
                lanes = FiniteCheck.allFinite(x, xb0, xb0 + m) && FiniteCheck.allFinite(w, 0, m);
                if (lanes) s.lanes.fit(m / 16, 16, 4, x, xb0, w, 0, scales, 0); // codes: finish's, or codes()
            }
            for (int j = 0; j < blocks; j++) {
                Arrays.fill(blk, (byte) 0);
                int xb = xb0 + j * QK_K;
                if (importance == null) {
                    for (int g = 0; g < QK_K / 16; ++g) scales[16 * j + g] = s.q3.fit(16, 4, x, xb + 16 * g, L, j * QK_K + 16 * g);
                    scalesRef(scales, 16 * j, blk);
                } else {
                    if (!lanes) {
                        for (int g = 0; g < QK_K / 16; ++g) {
                            int o = xb + 16 * g;
                            boolean finite = true;
                            for (int k = 0; k < 16; ++k) {
                                float xk = x[o + k];
                                finite &= (Float.floatToRawIntBits(xk) & 0x7f800000) != 0x7f800000;
                                s.qx.w[k] = w[j * QK_K + 16 * g + k];
                                s.qx.wx[k] = s.qx.w[k] * xk;
                            }
                            // Inf or NaN: the transliteration, whose integer rounding such values go through as ggml's does
                            scales[16 * j + g] = finite ? s.qx.fit(16, 4, x, o, L, j * QK_K + 16 * g)
                                    : QuantFit.makeQxQuants(16, 4, x, o, L, j * QK_K + 16 * g, 1, w, j * QK_K + 16 * g);
                        }
                    }
                    scalesWeighted(scales, 16 * j, sw, 16 * j, s.Ls, blk);
                }
                finish(x, xb, L, j * QK_K, blk, lanes ? s.lanes : null, 16 * j);
                System.arraycopy(blk, 0, s.run, j * BLOCK_BYTES, BLOCK_BYTES);
            }
            MemorySegment.copy(s.run, 0, dst, LittleEndian.BYTE, dstOffset + (long) b0 * BLOCK_BYTES, blocks * BLOCK_BYTES);
        }
    }

    /** The 6-bit scales and d of quantize_row_q3_K_ref from the 16 sub-block scales at {@code scales[so..]}. */
    static void scalesRef(float[] scales, int so, byte[] blk) {
        float maxScale = 0;
        float amax = 0;
        for (int j = 0; j < QK_K / 16; ++j) {
            float scale = Math.abs(scales[so + j]);
            if (scale > amax) {
                amax = scale;
                maxScale = scales[so + j];
            }
        }
        if (maxScale != 0) {
            float iscale = -32.f / maxScale;
            for (int j = 0; j < QK_K / 16; ++j) {
                int l = (byte) nearestInt(iscale * scales[so + j]); // int8_t l = nearest_int(...)
                packScale(j, Math.max(-32, Math.min(31, l)) + 32, blk);
            }
            Q4_KCodec.putShort(blk, D, Float16.fromFloat(1 / iscale));
        }
    }

    /** The 6-bit scales and d of quantize_row_q3_K_impl: make_qx_quants(16, 32, scales, rmse_type 1, sw). */
    static void scalesWeighted(float[] scales, int so, float[] sw, int swo, byte[] Ls, byte[] blk) {
        float dBlock = QuantFit.makeQxQuants(QK_K / 16, 32, scales, so, Ls, 0, 1, sw, swo);
        for (int j = 0; j < QK_K / 16; ++j) packScale(j, Ls[j], blk);
        Q4_KCodec.putShort(blk, D, Float16.fromFloat(dBlock));
    }

    /** The scale packing loop of both encoders: l (0..63) into the 12 bytes at {@code blk[SCALES]} (zeroed first). */
    private static void packScale(int j, int l, byte[] blk) {
        if (j < 8) blk[SCALES + j] = (byte) (l & 0xF);
        else blk[SCALES + j - 8] |= (byte) ((l & 0xF) << 4);
        l >>= 4;
        blk[SCALES + 8 + j % 4] |= (byte) (l << (2 * (j / 4)));
    }

    /**
     * Both encoders' end: codes 0..7 from the fp16-rounded d and 6-bit scales (sub-blocks whose scale is 0 keep the
     * first-pass codes at {@code L[lo..]}, or take them from lane {@code lane0 + j} of {@code fits} where the fits
     * wrote none); the third bit of each into hmask (bit j/32 of hmask[j%32]), the low two into qs.
     */
    static void finish(float[] x, int xo, byte[] L, int lo, byte[] blk, LaneQxBlocks fits, int lane0) {
        float d0 = Float16.toFloat(Q4_KCodec.getShort(blk, D));
        float[] d = SubBlockCodes.scales();
        for (int j = 0; j < QK_K / 16; ++j) d[j] = d0 * scale(j, blk);
        SubBlockCodes.requantize(x, xo, d, 4, L, lo, fits, lane0);
        // hmask bit j/32 of byte j%32 is code j's third bit, qs as Q2_K packs them: without branches, as the third
        // bits are coin flips that a branch per code mispredicts (half of this method's time when it branched)
        for (int l = 0; l < 32; ++l) {
            int h = 0, q0 = 0, q1 = 0;
            for (int s = 0; s < 4; ++s) {
                int a = L[lo + l + 32 * s], b = L[lo + 128 + l + 32 * s];
                h |= ((a >> 2) << s) | ((b >> 2) << (s + 4));
                q0 |= (a & 3) << (2 * s);
                q1 |= (b & 3) << (2 * s);
            }
            blk[l] = (byte) h;
            blk[QS + l] = (byte) q0;
            blk[QS + 32 + l] = (byte) q1;
        }
    }
}
