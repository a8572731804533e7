package dev.requant.formats.ggml;

import static dev.requant.formats.ggml.Rounding.nearestInt;

/**
 * The last step of the symmetric k-quants (Q3_K, Q6_K): each element's code from its 16-element sub-block's final
 * scale, {@code L = clamp(nearest_int(x / d), -nmax, nmax - 1) + nmax}, sub-blocks whose d is 0 left as they are
 * (ggml keeps the first fit's codes there).
 *
 * <p>Where every d is finite and non-zero and every quotient is below 2^22 in magnitude, nearest_int equals rounding
 * by adding and subtracting 1.5*2^23 in float, and the 256 elements go through one loop in float with each element's
 * d at its index, which C2 turns into vector divisions; ggml's loop as written was a seventh of the Q6_K encoder and
 * an eighth of Q3_K's. Anything else (a d of 0, NaN or infinity, quotients where nearest_int's bit trick gives
 * garbage) takes ggml's loop, so the codes are the same in every case.
 */
final class SubBlockCodes {
    private SubBlockCodes() {}

    private static final float MAGIC = 12582912.0f;
    /** Quotients up to this are below 2^22 after float division's rounding. */
    private static final float EXACT_QUOTIENT = 4.0e6f;
    /** Per-thread scratch: each element's d. */
    private static final ThreadLocal<float[]> D_AT = ThreadLocal.withInitial(() -> new float[256]);
    /** Per-thread room for the 16 sub-block scales a caller hands to {@link #requantize}. */
    private static final ThreadLocal<float[]> D16 = ThreadLocal.withInitial(() -> new float[16]);

    /** This thread's array for the 16 sub-block scales of one {@link #requantize} call. */
    static float[] scales() {
        return D16.get();
    }

    /**
     * The 16 sub-blocks of 16 elements at {@code x[xo..xo+256)}, scales {@code d[0..16)}, codes into {@code L[lo..]}. A
     * sub-block whose d is 0 keeps the codes L holds, or, where {@code fits} is given (a {@link LaneQxBlocks#fit} that
     * wrote no codes), gets them from lane {@code lane0 + j} of it.
     */
    static void requantize(float[] x, int xo, float[] d, int nmax, byte[] L, int lo, LaneQxBlocks fits, int lane0) {
        float[] dAt = D_AT.get();
        float minAbsD = Float.POSITIVE_INFINITY;
        boolean usual = true;
        for (int j = 0; j < 16; ++j) {
            float dj = d[j], a = Math.abs(dj);
            usual &= a > 0 && a < Float.POSITIVE_INFINITY;
            minAbsD = Math.min(minAbsD, a);
            for (int ii = 0; ii < 16; ++ii) dAt[16 * j + ii] = dj; // not Arrays.fill: a call per 16 floats
        }
        float maxAbsX = 0;
        for (int i = 0; i < 256; ++i) maxAbsX = Math.max(maxAbsX, Math.abs(x[xo + i]));
        if (usual && maxAbsX <= EXACT_QUOTIENT * minAbsD) {
            final float lo_ = -nmax, hi_ = nmax - 1, offset = nmax;
            // stored as bytes straight from float: C2 vectorizes no loop that stores a float[] at another offset than
            // it loads x from (they could be the same array)
            for (int i = 0; i < 256; ++i) L[lo + i] = (byte) (Math.max(lo_, Math.min(hi_, x[xo + i] / dAt[i] + MAGIC - MAGIC)) + offset);
            return;
        }
        for (int j = 0; j < 16; ++j) {
            float dj = d[j];
            if (dj == 0) {
                if (fits != null) fits.codes(lane0 + j, 16, nmax, L, lo + 16 * j);
                continue;
            }
            for (int ii = 0; ii < 16; ++ii) {
                int l = nearestInt(x[xo + 16 * j + ii] / dj);
                L[lo + 16 * j + ii] = (byte) (Math.max(-nmax, Math.min(nmax - 1, l)) + nmax);
            }
        }
    }
}
