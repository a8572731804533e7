package dev.requant.formats.ggml;

import static dev.requant.formats.ggml.Rounding.nearestInt;

import dev.requant.formats.io.LittleEndian;
import java.lang.foreign.MemorySegment;
import java.util.Arrays;

/**
 * IQ4_NL: 18-byte blocks of 32, {@code fp16 d; uint8 qs[16]}; element j in the low nibble of qs[j], element j+16 in
 * the high nibble; value = d * kvalues_iq4nl[q], a fixed non-linear 16-level grid. The encoder is llama-quantize's
 * quantize_iq4_nl (quantize_row_iq4_nl_impl with ntry 7; weights x^2, or imatrix*sqrt(sigma2 + x^2) with sigma2 =
 * 2*mean x^2 of the block), not quantize_row_iq4_nl_ref (ntry -1), which only ggml's from_float path uses.
 * {@link #encodeSuperBlock} is that impl for any super-block size, shared with IQ4_XS.
 */
class IQ4_NLCodec implements BlockCodec {
    static final int QK = 32;
    static final int BLOCK_BYTES = 18;
    /** kvalues_iq4nl (ggml-common.h): the 16 levels, ascending. */
    static final byte[] KVALUES = {-127, -104, -83, -65, -49, -35, -22, -10, 1, 13, 25, 38, 53, 69, 89, 113};
    /** The number of scales tried either side of the first guess (ntry of quantize_iq4_nl / quantize_iq4_xs). */
    static final int NTRY = 7;

    @Override public GgmlType type() { return GgmlType.IQ4_NL; }

    @Override public boolean usesImportance() { return true; }

    @Override
    public void decode(MemorySegment src, long srcOffset, float[] dst, int dstOffset, int n) {
        for (int b = 0; b < n / QK; b++) {
            long base = srcOffset + (long) b * BLOCK_BYTES;
            float d = Float16.toFloat(src.get(LittleEndian.SHORT, base));
            int o = dstOffset + b * QK;
            for (int j = 0; j < QK / 2; j++) {
                int q = src.get(LittleEndian.BYTE, base + 2 + j) & 0xFF;
                dst[o + j] = d * KVALUES[q & 0xF];
                dst[o + j + QK / 2] = d * KVALUES[q >> 4];
            }
        }
    }

    @Override
    public void encodeRow(float[] x, int xo, int n, float[] importance, MemorySegment dst, long dstOffset) {
        Scratch s = new Scratch(QK);
        byte[] blk = new byte[BLOCK_BYTES];
        for (int b = 0; b < n / QK; b++) {
            encodeSuperBlock(QK, x, xo + b * QK, importance, b * QK, blk, s);
            MemorySegment.copy(blk, 0, dst, LittleEndian.BYTE, dstOffset + (long) b * BLOCK_BYTES, BLOCK_BYTES);
        }
    }

    /** Per-call scratch of {@link #encodeSuperBlock}. */
    static final class Scratch {
        final float[] weight = new float[32];
        final float[] scales;
        final byte[] L;

        Scratch(int superBlockSize) {
            scales = new float[superBlockSize / 32];
            L = new byte[superBlockSize];
        }
    }

    /**
     * best_index_int8(16, kvalues_iq4nl, x): the level nearest to x by ggml's binary search (a tie goes up; NaN gives
     * 15, as the search does).
     */
    static int bestIndex(float x) {
        if (x <= KVALUES[0]) return 0;
        if (x >= KVALUES[15]) return 15;
        int ml = 0, mu = 15;
        while (mu - ml > 1) {
            int mav = (ml + mu) / 2;
            if (x < KVALUES[mav]) mu = mav;
            else ml = mav;
        }
        return x - KVALUES[mu - 1] < KVALUES[mu] - x ? mu - 1 : mu;
    }

    /**
     * quantize_row_iq4_nl_impl(superBlockSize, 32, ..., kvalues_iq4nl, qw, ntry 7) for the super-block at x[xo] into
     * {@code blk}: IQ4_NL's layout for a size of 32 (d, qs), IQ4_XS's for 256 (d, scales_h, scales_l[4], qs[128]).
     *
     * @param qw importance of the whole row (read from {@code qwo}), or null for weights x^2
     */
    static void encodeSuperBlock(int superBlockSize, float[] x, int xo, float[] qw, int qwo, byte[] blk, Scratch s) {
        float sigma2 = 0;
        for (int j = 0; j < superBlockSize; ++j) sigma2 += x[xo + j] * x[xo + j];
        sigma2 *= 2.f / superBlockSize;
        float[] weight = s.weight;
        float maxScale = 0, amaxScale = 0;
        int nb = superBlockSize / 32;
        for (int ib = 0; ib < nb; ++ib) {
            int xb = xo + ib * 32;
            if (qw != null) ImportanceWeights.sigmaWeights(x, xb, qw, qwo + ib * 32, sigma2, weight, 0, 32);
            else for (int j = 0; j < 32; ++j) weight[j] = x[xb + j] * x[xb + j];
            float amax = 0, max = 0;
            for (int j = 0; j < 32; ++j) {
                float ax = Math.abs(x[xb + j]);
                if (ax > amax) {
                    amax = ax;
                    max = x[xb + j];
                }
            }
            if (amax < QuantFit.GROUP_MAX_EPS) {
                s.scales[ib] = 0;
                continue;
            }
            float d = -max / KVALUES[0];
            float id = 1 / d;
            float sumqx = 0, sumq2 = 0;
            for (int j = 0; j < 32; ++j) {
                float xj = x[xb + j];
                float q = KVALUES[bestIndex(id * xj)];
                float w = weight[j];
                sumqx += w * q * xj;
                sumq2 += w * q * q;
            }
            d = sumq2 > 0 ? sumqx / sumq2 : 0.f;
            float best = d * sumqx;
            for (int itry = -NTRY; itry <= NTRY; ++itry) {
                id = (itry + KVALUES[0]) / max;
                sumqx = 0;
                sumq2 = 0;
                for (int j = 0; j < 32; ++j) {
                    float xj = x[xb + j];
                    float q = KVALUES[bestIndex(id * xj)];
                    float w = weight[j];
                    sumqx += w * q * xj;
                    sumq2 += w * q * q;
                }
                if (sumq2 > 0 && sumqx * sumqx > best * sumq2) {
                    d = sumqx / sumq2;
                    best = d * sumqx;
                }
            }
            s.scales[ib] = d;
            float absD = Math.abs(d);
            if (absD > amaxScale) {
                amaxScale = absD;
                maxScale = d;
            }
        }
        byte[] L = s.L;
        if (nb > 1) {
            int scalesH = 0;
            Arrays.fill(blk, 4, 8, (byte) 0);
            float d = -maxScale / 32;
            Q4_KCodec.putShort(blk, 0, Float16.fromFloat(d));
            float id = d != 0 ? 1 / d : 0.f; // NaN is true in C, so 1/NaN
            for (int ib = 0; ib < nb; ++ib) {
                int l = nearestInt(id * s.scales[ib]);
                l = Math.max(-32, Math.min(31, l));
                float dl = d * l;
                float idl = dl != 0 ? 1 / dl : 0.f;
                int xb = xo + ib * 32;
                for (int j = 0; j < 32; ++j) L[ib * 32 + j] = (byte) bestIndex(idl * x[xb + j]);
                l += 32;
                int lLow = l & 0xF;
                int lHigh = l >> 4;
                if (ib % 2 == 0) blk[4 + ib / 2] = (byte) lLow;
                else blk[4 + ib / 2] |= (byte) (lLow << 4);
                scalesH |= lHigh << (2 * (ib % 8));
            }
            Q4_KCodec.putShort(blk, 2, (short) scalesH);
        } else {
            Q4_KCodec.putShort(blk, 0, Float16.fromFloat(s.scales[0]));
            float id = s.scales[0] != 0 ? 1 / s.scales[0] : 0;
            for (int j = 0; j < superBlockSize; ++j) L[j] = (byte) bestIndex(id * x[xo + j]);
        }
        int qs = nb > 1 ? 8 : 2;
        for (int i = 0; i < superBlockSize / 32; ++i) {
            for (int j = 0; j < 16; ++j) blk[qs + 16 * i + j] = (byte) (L[32 * i + j] | (L[32 * i + 16 + j] << 4));
        }
    }
}
