package dev.requant.formats.ggml;

import static dev.requant.formats.ggml.Rounding.nearestInt;

/**
 * make_q3_quants (do_rmse true, {@link QuantFit#makeQ3Quants}) for Q3_K's scalar encoder, the same binary32
 * operations in the same order, so the same scale and codes to the bit, with what the transliteration repeats taken
 * out: x^2 and x^3 (as {@code (x*x)*x}) are computed once per element instead of once per element and round,
 * the codes are kept as ints (no byte sign extension), and the refinement stops as soon as every element has been
 * looked at once since the last change. In make_q3_quants an element's step depends only on the running sums and its
 * own code; after sixteen steps in a row that changed nothing, the sums and codes are those every element was last
 * looked at with, so the rest of the pass would change nothing either and the loop would end there: stopping early
 * gives the same result and skips up to a whole pass (the transliteration always ends with one).
 */
final class Q3Fit {
    private final float[] w, wx;
    private final int[] l;

    Q3Fit(int n) {
        w = new float[n];
        wx = new float[n];
        l = new int[n];
    }

    /** make_q3_quants(n, nmax, x[xo..], L[lo..], true): the codes (0..2*nmax-1) into L, the scale returned. */
    float fit(int n, int nmax, float[] x, int xo, byte[] L, int lo) {
        float max = QuantFit.largestMagnitude(x, xo, n);
        float amax = Math.abs(max);
        if (amax < QuantFit.GROUP_MAX_EPS) {
            for (int i = 0; i < n; ++i) L[lo + i] = 0;
            return 0f;
        }
        float iscale = -nmax / max;
        float sumlx = 0;
        float suml2 = 0;
        for (int i = 0; i < n; ++i) {
            float xi = x[xo + i];
            int li = Math.max(-nmax, Math.min(nmax - 1, nearestInt(iscale * xi)));
            float wi = xi * xi;
            float wxi = wi * xi;
            l[i] = li;
            w[i] = wi;
            wx[i] = wxi;
            sumlx += wxi * li;
            suml2 += wi * li * li;
        }
        int quiet = 0; // steps since the last change
        refine:
        for (int itry = 0; itry < 5; ++itry) {
            boolean changed = false;
            for (int i = 0; i < n; ++i) {
                if (quiet == n) break refine;
                int li = l[i];
                float wi = w[i], wxi = wx[i];
                float slx = sumlx - wxi * li;
                quiet++;
                if (slx > 0) {
                    float sl2 = suml2 - wi * li * li;
                    int newL = Math.max(-nmax, Math.min(nmax - 1, nearestInt(x[xo + i] * sl2 / slx)));
                    if (newL != li) {
                        slx += wxi * newL;
                        sl2 += wi * newL * newL;
                        if (sl2 > 0 && slx * slx * suml2 > sumlx * sumlx * sl2) {
                            l[i] = newL;
                            sumlx = slx;
                            suml2 = sl2;
                            changed = true;
                            quiet = 0;
                        }
                    }
                }
            }
            if (!changed) break;
        }
        for (int i = 0; i < n; ++i) L[lo + i] = (byte) (l[i] + nmax);
        return suml2 > 0.0f ? sumlx / suml2 : 0.0f;
    }
}
