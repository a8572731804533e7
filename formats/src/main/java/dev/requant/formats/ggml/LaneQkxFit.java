package dev.requant.formats.ggml;

/**
 * make_qkx2_quants / make_qkx3_quants ({@link QuantFit#makeQkx2Quants}) of many sub-blocks at once, in plain Java
 * loops that run across the sub-blocks: sub-block k is lane k, its element i lives at {@code i * lanes + k}, and every
 * step of the search is one loop over the lanes. Each lane does exactly the scalar sequence of binary32 operations of
 * its sub-block (its sums in element order, the same divisions and comparisons, the candidates in the same order, a
 * kept candidate changing its min for the next ones as the scalar search does), so scale, min and codes are the same
 * to the bit. The transliteration is a few dependent float-add chains per candidate and its speed is the add's
 * latency; here the chains of all lanes are independent, and the lane loops are simple enough for C2 to compile them
 * to SIMD instructions itself (no Vector API: fast as soon as C2 has compiled it, no boxed warm-up phase).
 *
 * <p>Codes are rounded in float, {@code (v + 1.5*2^23) - 1.5*2^23}: the same float add as nearest_int's, then the
 * exact subtraction instead of the bit extraction, equal for |v| <= 2^22. Callers pass finite x and weights only
 * (others go to the transliteration); a lane whose codes could still leave that range (an extreme min from the
 * least-squares step) is marked and redone by the transliteration, so the range is never assumed.
 */
final class LaneQkxFit {
    private static final float MAGIC = 12582912.0f;
    /** |v| up to which the float rounding equals nearest_int (checked per lane and candidate at both ends of x). */
    private static final float SAFE = 4194303.0f;

    private final int capacity;
    /** Element i of every lane: one array per element, so that every lane loop indexes all its arrays by lane alone. */
    private final float[][] xt, wt, lt;
    private final float[] min, max, xmin, sumW, sumX, best, scale, keepIscale, keepMin, isc, sumL, sumL2, sumXl, err,
            thisScale, thisMin, det;
    private final boolean[] escape;
    private final byte[] aux = new byte[32];
    private final float[] one = new float[1];

    /** Room for {@code capacity} lanes of up to 32 elements. */
    LaneQkxFit(int capacity) {
        this.capacity = capacity;
        xt = new float[32][capacity];
        wt = new float[32][capacity];
        lt = new float[32][capacity];
        min = new float[capacity];
        max = new float[capacity];
        xmin = new float[capacity];
        sumW = new float[capacity];
        sumX = new float[capacity];
        best = new float[capacity];
        scale = new float[capacity];
        keepIscale = new float[capacity];
        keepMin = new float[capacity];
        isc = new float[capacity];
        sumL = new float[capacity];
        sumL2 = new float[capacity];
        sumXl = new float[capacity];
        err = new float[capacity];
        thisScale = new float[capacity];
        thisMin = new float[capacity];
        det = new float[capacity];
        escape = new boolean[capacity];
    }

    int capacity() { return capacity; }

    /**
     * make_qkx2_quants(g, nmax, x, w, L, &the_min, Laux, rmin, rdelta, nstep, useMad) of {@code lanes} consecutive
     * groups of {@code g} (up to 32, nstep >= 1) from {@code x[xo..]} with weights {@code w[wo..]}, all finite: group k's
     * scale into {@code scales[so + k]}, the_min into {@code mins[mo + k]}, codes into {@code L[lo + g*k ..]}. For finite
     * input make_qkx3_quants takes the same steps (its {@code max <= min} is {@code max == min} then). Each step is a
     * small method of its own: C2 compiles each soon after the first calls, without on-stack replacement, and a branch
     * the first rows never took recompiles one step, not the whole search.
     */
    void fit(int lanes, int g, int nmax, float[] x, int xo, float[] w, int wo, float rmin, float rdelta, int nstep,
            boolean useMad, float[] scales, int so, float[] mins, int mo, byte[] L, int lo) {
        transpose(lanes, g, x, xo, w, wo);
        rangeAndSums(lanes, g);
        start(lanes, nmax);
        codes(lanes, g, nmax, isc, min);
        if (useMad) absoluteErrors(lanes, g, scale, min, best);
        else squaredErrors(lanes, g, scale, min, best);
        for (int step = 0; step <= nstep; ++step) {
            candidate(lanes, rmin + rdelta * step + nmax);
            codesAndSums(lanes, g, nmax);
            leastSquares(lanes);
            if (useMad) absoluteErrors(lanes, g, thisScale, thisMin, err);
            else squaredErrors(lanes, g, thisScale, thisMin, err);
            keepBetter(lanes);
        }
        codes(lanes, g, nmax, keepIscale, keepMin); // the kept candidates' codes, from the min they were computed with
        for (int i = 0; i < g; i++) {
            float[] lr = lt[i];
            for (int k = 0; k < lanes; k++) L[lo + k * g + i] = (byte) lr[k];
        }
        for (int k = 0; k < lanes; k++) {
            scales[so + k] = scale[k];
            mins[mo + k] = -min[k];
            if (escape[k]) { // degenerate, or outside the float rounding's range: the transliteration
                int xk = xo + k * g, lk = lo + k * g;
                scales[so + k] = QuantFit.makeQkx2Quants(g, nmax, x, xk, w, wo + k * g, L, lk, one, 0, aux, rmin, rdelta,
                        nstep, useMad);
                mins[mo + k] = one[0];
            }
        }
    }

    /** Group k's element i to {@code xt[i][k]}, its weight to {@code wt[i][k]}. */
    private void transpose(int c, int g, float[] x, int xo, float[] w, int wo) {
        for (int i = 0; i < g; i++) {
            float[] xr = xt[i], wr = wt[i];
            for (int k = 0; k < c; k++) {
                xr[k] = x[xo + k * g + i];
                wr[k] = w[wo + k * g + i];
            }
        }
    }

    /** The first loop of make_qkx2_quants: min, max, sum of w and of w*x, in element order. */
    private void rangeAndSums(int c, int g) {
        final float[] min = this.min, max = this.max, sumW = this.sumW, sumX = this.sumX;
        final float[] x0 = xt[0], w0 = wt[0];
        for (int k = 0; k < c; k++) {
            min[k] = x0[k];
            max[k] = x0[k];
            sumW[k] = w0[k];
            sumX[k] = w0[k] * x0[k];
        }
        for (int i = 1; i < g; i++) {
            float[] xr = xt[i], wr = wt[i];
            for (int k = 0; k < c; k++) {
                float xi = xr[k];
                float wi = wr[k];
                min[k] = Math.min(min[k], xi);
                max[k] = Math.max(max[k], xi);
                sumW[k] += wi;
                sumX[k] += wi * xi;
            }
        }
        for (int k = 0; k < c; k++) {
            // Math.min/max prefer -0.0/+0.0 where ggml's comparisons keep the first zero: redo such lanes in its order
            if (min[k] == 0 || max[k] == 0) {
                float mn = x0[k], mx = mn;
                for (int i = 1; i < g; i++) {
                    float xi = xt[i][k];
                    if (xi < mn) mn = xi;
                    if (xi > mx) mx = xi;
                }
                min[k] = mn;
                max[k] = mx;
            }
        }
    }

    /** The first guess: min clamped to at most 0, iscale = nmax/(max - min), scale its inverse. */
    private void start(int c, int nmax) {
        for (int k = 0; k < c; k++) {
            xmin[k] = min[k];
            min[k] = Math.min(min[k], 0f); // if (min > 0) min = 0, without a branch (min is finite; -0.0 stays)
            float is = nmax / (max[k] - min[k]);
            isc[k] = is;
            scale[k] = 1 / is;
            best[k] = 0;
            keepIscale[k] = is;
            keepMin[k] = min[k];
            escape[k] = max[k] == min[k]; // degenerate (all equal, none positive): the transliteration's zeros
        }
    }

    /** clamp(nearest_int(iscale * (x - min)), 0, nmax) of every element into {@code lt}. */
    private void codes(int c, int g, int nmax, float[] iscale, float[] m) {
        final float fmax = nmax;
        for (int i = 0; i < g; i++) {
            float[] xr = xt[i], lr = lt[i];
            for (int k = 0; k < c; k++) lr[k] = Math.max(0f, Math.min(fmax, iscale[k] * (xr[k] - m[k]) + MAGIC - MAGIC));
        }
    }

    /** {@code e += w * |s*l + m - x|} over the elements, in element order. */
    private void absoluteErrors(int c, int g, float[] s, float[] m, float[] e) {
        for (int k = 0; k < c; k++) e[k] = 0;
        for (int i = 0; i < g; i++) {
            float[] xr = xt[i], wr = wt[i], lr = lt[i];
            for (int k = 0; k < c; k++) e[k] += wr[k] * Math.abs(s[k] * lr[k] + m[k] - xr[k]);
        }
    }

    /** {@code e += w * (s*l + m - x)^2} over the elements, in element order. */
    private void squaredErrors(int c, int g, float[] s, float[] m, float[] e) {
        for (int k = 0; k < c; k++) e[k] = 0;
        for (int i = 0; i < g; i++) {
            float[] xr = xt[i], wr = wt[i], lr = lt[i];
            for (int k = 0; k < c; k++) {
                float diff = s[k] * lr[k] + m[k] - xr[k];
                e[k] += wr[k] * (diff * diff);
            }
        }
    }

    /**
     * One trial scale: iscale = numerator/(max - min) with the lane's current min; a lane whose codes could leave the
     * float rounding's range is marked (they lie between those of its smallest and largest x: float ops are monotonic).
     */
    private void candidate(int c, float numerator) {
        for (int k = 0; k < c; k++) {
            float is = numerator / (max[k] - min[k]);
            isc[k] = is;
            float lo = is * (xmin[k] - min[k]), hi = is * (max[k] - min[k]);
            escape[k] |= !(Math.abs(lo) <= SAFE & Math.abs(hi) <= SAFE);
        }
    }

    /** The trial's codes into {@code lt} and their sums of w*l, w*l*l and w*l*x, in element order. */
    private void codesAndSums(int c, int g, int nmax) {
        final float fmax = nmax;
        final float[] isc = this.isc, min = this.min, sumL = this.sumL, sumL2 = this.sumL2, sumXl = this.sumXl;
        for (int k = 0; k < c; k++) {
            sumL[k] = 0;
            sumL2[k] = 0;
            sumXl[k] = 0;
        }
        for (int i = 0; i < g; i++) {
            float[] xr = xt[i], wr = wt[i], lr = lt[i];
            for (int k = 0; k < c; k++) {
                float l = Math.max(0f, Math.min(fmax, isc[k] * (xr[k] - min[k]) + MAGIC - MAGIC));
                lr[k] = l;
                float wl = wr[k] * l;
                sumL[k] += wl;
                sumL2[k] += wl * l;
                sumXl[k] += wl * xr[k];
            }
        }
    }

    /** The trial's least-squares scale and min (min at most 0, the scale refitted where it was positive). */
    private void leastSquares(int c) {
        for (int k = 0; k < c; k++) {
            float sw = sumW[k], sl = sumL[k], sl2 = sumL2[k], sxl = sumXl[k], sx = sumX[k];
            float d = sw * sl2 - sl * sl;
            det[k] = d;
            thisScale[k] = (sw * sxl - sx * sl) / d;
            thisMin[k] = (sl2 * sx - sl * sxl) / d;
        }
        for (int k = 0; k < c; k++) { // apart from the loop above, which has no branch to keep it from SIMD
            if (thisMin[k] > 0) {
                thisMin[k] = 0;
                thisScale[k] = sumXl[k] / sumL2[k];
            }
        }
    }

    /** A lane whose trial has D > 0 and a smaller error keeps it; its min becomes the trial's for the next trials. */
    private void keepBetter(int c) {
        for (int k = 0; k < c; k++) {
            if (det[k] > 0 && err[k] < best[k]) {
                best[k] = err[k];
                scale[k] = thisScale[k];
                keepIscale[k] = isc[k];
                keepMin[k] = min[k];
                min[k] = thisMin[k];
            }
        }
    }
}
