package dev.requant.formats.ggml;

/**
 * make_qx_quants(g, nmax, x, L, rmse_type 1, w) ({@link QuantFit#makeQxQuants}) of many sub-blocks at once, laid out
 * as {@link LaneQkxFit} lays out make_qkx2_quants: sub-block k is lane k, its element i at {@code [i][k]}, every step
 * one loop over the lanes, which C2 compiles to SIMD instructions. Each lane does the scalar sequence of binary32
 * operations of its sub-block (the first guess and the 18 trial scales in order, sums in element order, the same
 * comparisons), so scale and codes are the same to the bit. {@link LaneQxFit} interleaves the trial scales of one
 * sub-block instead; this runs sub-blocks side by side (Q6_K's 16 per super-block, runs of super-blocks).
 *
 * <p>Codes are rounded in float ({@code (v + 1.5*2^23) - 1.5*2^23}, nearest_int's add then an exact subtraction),
 * equal to nearest_int for |v| <= 2^22: here |v| is at most nmax + 1, as the inverse scales are at most (nmax + 0.9)
 * over the group's largest magnitude. Callers pass finite x and weights only.
 */
final class LaneQxBlocks {
    private static final float MAGIC = 12582912.0f;

    private final float[][] xt, wt, wxt;
    private final float[] hi, lo, max, isc, sumlx, suml2, scale, best, keep;
    private final boolean[] zero;

    /** Room for {@code capacity} lanes of up to 32 elements. */
    LaneQxBlocks(int capacity) {
        xt = new float[32][capacity];
        wt = new float[32][capacity];
        wxt = new float[32][capacity];
        hi = new float[capacity];
        lo = new float[capacity];
        max = new float[capacity];
        isc = new float[capacity];
        sumlx = new float[capacity];
        suml2 = new float[capacity];
        scale = new float[capacity];
        best = new float[capacity];
        keep = new float[capacity];
        zero = new boolean[capacity];
    }

    /**
     * make_qx_quants(g, nmax, x, L, 1, w) of {@code lanes} consecutive groups of {@code g} (up to 32) from
     * {@code x[xo..]} with weights {@code w[wo..]}, all finite: group k's scale into {@code scales[so + k]}; its codes
     * (0..2*nmax-1) from {@link #codes}. Q6_K and Q3_K compute every code again from the rounded scales and need a
     * fit's codes only for a sub-block whose scale rounds to 0 (writing all of them, a strided store per weight, was a
     * twentieth of the Q6_K encoder).
     */
    void fit(int lanes, int g, int nmax, float[] x, int xo, float[] w, int wo, float[] scales, int so) {
        transpose(lanes, g, x, xo, w, wo);
        largest(lanes, g);
        for (int k = 0; k < lanes; k++) isc[k] = -nmax / max[k];
        sums(lanes, g, nmax);
        for (int k = 0; k < lanes; k++) {
            float s = suml2[k] != 0 ? sumlx[k] / suml2[k] : 0.0f;
            scale[k] = s;
            best[k] = s * sumlx[k];
            keep[k] = isc[k];
        }
        for (int is = -9; is <= 9; ++is) {
            if (is == 0) continue;
            float numerator = nmax + 0.1f * is;
            for (int k = 0; k < lanes; k++) isc[k] = -numerator / max[k];
            sums(lanes, g, nmax);
            keepBetter(lanes);
        }
        // largest magnitude below GROUP_MAX_EPS: scale 0 (and all codes 0, see codes)
        for (int k = 0; k < lanes; k++) scales[so + k] = zero[k] ? 0f : scale[k];
    }

    /** Lane k's codes (0..2*nmax-1) from the last {@link #fit} (of groups of g, with nmax), into {@code L[lo..]}. */
    void codes(int k, int g, int nmax, byte[] L, int lo) {
        if (zero[k]) {
            java.util.Arrays.fill(L, lo, lo + g, (byte) 0);
            return;
        }
        final float lo_ = -nmax, hi_ = nmax - 1, offset = nmax;
        for (int i = 0; i < g; i++) L[lo + i] = (byte) (offset + Math.max(lo_, Math.min(hi_, keep[k] * xt[i][k] + MAGIC - MAGIC)));
    }

    /** Group k's element i to {@code xt[i][k]}, its weight to {@code wt[i][k]}, their product to {@code wxt[i][k]}. */
    private void transpose(int c, int g, float[] x, int xo, float[] w, int wo) {
        for (int i = 0; i < g; i++) {
            float[] xr = xt[i], wr = wt[i], wxr = wxt[i];
            for (int k = 0; k < c; k++) {
                float xi = x[xo + k * g + i], wi = w[wo + k * g + i];
                xr[k] = xi;
                wr[k] = wi;
                wxr[k] = wi * xi;
            }
        }
    }

    /**
     * The element of largest magnitude, signed, the first of equals (QuantFit.largestMagnitude): from the largest and
     * the smallest value; only where both have that magnitude (and opposite signs) does the order decide.
     */
    private void largest(int c, int g) {
        float[] x0 = xt[0];
        for (int k = 0; k < c; k++) {
            hi[k] = x0[k];
            lo[k] = x0[k];
        }
        for (int i = 1; i < g; i++) {
            float[] xr = xt[i];
            for (int k = 0; k < c; k++) {
                hi[k] = Math.max(hi[k], xr[k]);
                lo[k] = Math.min(lo[k], xr[k]);
            }
        }
        for (int k = 0; k < c; k++) {
            float amax = Math.max(Math.abs(hi[k]), Math.abs(lo[k]));
            zero[k] = amax < QuantFit.GROUP_MAX_EPS;
            if (Math.abs(hi[k]) != Math.abs(lo[k])) {
                max[k] = Math.abs(hi[k]) == amax ? hi[k] : lo[k];
            } else { // +a and -a (or one value): the first one
                float m = 0, am = 0;
                for (int i = 0; i < g; i++) {
                    float xi = xt[i][k];
                    if (Math.abs(xi) > am) {
                        am = Math.abs(xi);
                        m = xi;
                    }
                }
                max[k] = m;
            }
        }
    }

    /**
     * The sums of one trial: clamp(nearest_int(iscale*x), -nmax, nmax-1) as l; sumlx += (w*x)*l, suml2 += (w*l)*l.
     * Two elements per pass over the lanes, added one after the other as before (the same roundings): the running sums
     * are loaded and stored half as often (Q6_K 14.4 ns/weight against 15.0). Four per pass made the loop body too
     * large for C2 to unroll and vectorize (49 ns/weight).
     */
    private void sums(int c, int g, int nmax) {
        final float lo_ = -nmax, hi_ = nmax - 1;
        final float[] isc = this.isc, sumlx = this.sumlx, suml2 = this.suml2;
        for (int k = 0; k < c; k++) {
            sumlx[k] = 0;
            suml2[k] = 0;
        }
        int i = 0;
        for (; i + 2 <= g; i += 2) {
            float[] x0 = xt[i], w0 = wt[i], v0 = wxt[i], x1 = xt[i + 1], w1 = wt[i + 1], v1 = wxt[i + 1];
            for (int k = 0; k < c; k++) {
                float s = isc[k];
                float l0 = Math.max(lo_, Math.min(hi_, s * x0[k] + MAGIC - MAGIC));
                float l1 = Math.max(lo_, Math.min(hi_, s * x1[k] + MAGIC - MAGIC));
                sumlx[k] = (sumlx[k] + v0[k] * l0) + v1[k] * l1;
                suml2[k] = (suml2[k] + w0[k] * l0 * l0) + w1[k] * l1 * l1;
            }
        }
        for (; i < g; i++) {
            float[] xr = xt[i], wr = wt[i], wxr = wxt[i];
            for (int k = 0; k < c; k++) {
                float l = Math.max(lo_, Math.min(hi_, isc[k] * xr[k] + MAGIC - MAGIC));
                sumlx[k] += wxr[k] * l;
                suml2[k] += wr[k] * l * l;
            }
        }
    }

    /**
     * A trial with suml2 > 0 and a better sumlx^2/suml2 than the best so far is kept. Without branches (both tests
     * evaluated, the quotient too; a trial not kept never uses it): which trial improves on the last is random from
     * lane to lane, and the mispredicted branches cost a tenth of Q6_K's encoder.
     */
    private void keepBetter(int c) {
        final float[] sumlx = this.sumlx, suml2 = this.suml2, best = this.best, scale = this.scale, keep = this.keep, isc = this.isc;
        for (int k = 0; k < c; k++) {
            float slx = sumlx[k], sl2 = suml2[k], s = slx / sl2;
            boolean better = sl2 > 0 & slx * slx > best[k] * sl2;
            scale[k] = better ? s : scale[k];
            best[k] = better ? s * slx : best[k];
            keep[k] = better ? isc[k] : keep[k];
        }
    }
}
