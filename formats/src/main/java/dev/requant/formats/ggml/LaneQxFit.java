package dev.requant.formats.ggml;

/**
 * make_qx_quants(n, nmax, x, L, rmse_type 1, w) ({@link QuantFit#makeQxQuants}) with its candidate scales
 * interleaved: the 19 inverse scales (the first guess and the 18 tries) are independent until their results are
 * compared, so all their running sums are computed in one pass over the group, then compared in the scalar order. Each candidate sees exactly the scalar sequence of binary32 operations (the same sums in the same
 * order, the same divisions and comparisons, candidates compared in the same order), so the result is the same to the
 * bit. The transliteration is one dependent chain of float adds per candidate, and its speed was the add's latency
 * (Q6_K at 43 ns per weight where ggml's compiled C takes 30); here 19 chains run side by side and each x, w, w*x
 * is loaded once for all of them. Unlike a Vector API kernel it is fast from its first calls (interpreted or C1
 * code is plain scalar code, not the Vector API's boxed fallback), which is what a file's first tensor needs (a Q6_K
 * token_embd, a quarter of a small model).
 *
 * <p>Since {@link LaneQxBlocks} (sub-blocks side by side, SIMD) took over Q6_K and Q3_K's imatrix fits, this serves
 * the runs those cannot take: a super-block holding Inf or NaN, whose finite sub-blocks still come here.
 *
 * <p>Codes are rounded in float, {@code (v + 1.5*2^23) - 1.5*2^23}: the same float add as nearest_int's, then the
 * exact subtraction instead of the bit extraction, equal for |v| <= 2^22. That holds for finite x (|v| is at most
 * nmax + 1), so callers use it only for all-finite groups and fall back to the transliteration otherwise.
 */
final class LaneQxFit {
    private static final float MAGIC = 12582912.0f;
    private static final int CANDIDATES = 19;

    /** Weights and weight times x of the group (filled by the caller), and the candidates' sums. */
    final float[] w, wx;
    private final float[] isc = new float[CANDIDATES + 1], sumlx = new float[CANDIDATES + 1], suml2 = new float[CANDIDATES + 1];

    LaneQxFit(int n) {
        w = new float[n];
        wx = new float[n];
    }

    /**
     * make_qx_quants(n, nmax, x[xo..], L[lo..], 1, w) for finite x with {@link #w} and {@link #wx} = w*x filled in:
     * the codes into L, the scale returned.
     */
    float fit(int n, int nmax, float[] x, int xo, byte[] L, int lo) {
        float max = QuantFit.largestMagnitude(x, xo, n);
        float amax = Math.abs(max);
        if (amax < QuantFit.GROUP_MAX_EPS) {
            for (int i = 0; i < n; ++i) L[lo + i] = 0;
            return 0f;
        }
        isc[0] = -nmax / max;
        for (int is = -9, c = 1; is <= 9; ++is) {
            if (is != 0) isc[c++] = -(nmax + 0.1f * is) / max;
        }
        isc[CANDIDATES] = isc[0]; // pads the candidates to an even count; its sums are not read
        float lo_ = -nmax, hi = nmax - 1;
        java.util.Arrays.fill(sumlx, 0f);
        java.util.Arrays.fill(suml2, 0f);
        for (int i = 0; i < n; ++i) {
            float xi = x[xo + i], wi = w[i], wxi = wx[i];
            for (int c = 0; c <= CANDIDATES; c++) {
                float l = Math.max(lo_, Math.min(hi, isc[c] * xi + MAGIC - MAGIC));
                sumlx[c] += wxi * l;
                suml2[c] += wi * l * l;
            }
        }
        float scale = suml2[0] != 0 ? sumlx[0] / suml2[0] : 0.0f;
        float best = scale * sumlx[0];
        float keep = isc[0];
        for (int c = 1; c < CANDIDATES; c++) {
            if (suml2[c] > 0 && sumlx[c] * sumlx[c] > best * suml2[c]) {
                scale = sumlx[c] / suml2[c];
                best = scale * sumlx[c];
                keep = isc[c];
            }
        }
        for (int i = 0; i < n; ++i) {
            int l = Rounding.nearestInt(keep * x[xo + i]);
            L[lo + i] = (byte) (nmax + Math.max(-nmax, Math.min(nmax - 1, l)));
        }
        return scale;
    }
}
