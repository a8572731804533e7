package dev.requant.formats.ggml;

import static dev.requant.formats.ggml.Rounding.nearestInt;

/**
 * The steps the IQ1/IQ2/IQ3 encoders of ggml-quants.c share, in their float arithmetic: sign folding, the level of an
 * element at a trial scale, and the nearest-grid-point searches (iq2_find_best_neighbour, iq3_find_best_neighbour,
 * iq1_find_best_neighbour2). Binary32 throughout, left to right, no fused multiply-add (docs/llamacpp-formats.md 3.1).
 */
final class IqSearch {
    private IqSearch() {}

    /** 1e-15f, 1e-8f, 1e-8f, 1e-12f, 1e-7f: the GROUP_MAX_EPS* of ggml-quants.c below which a group is all zero. */
    static final float GROUP_MAX_EPS = 1e-15f, EPS_IQ3_XXS = 1e-8f, EPS_IQ2_S = 1e-8f, EPS_IQ1_S = 1e-12f, EPS_IQ1_M = 1e-7f;

    /** ggml's MAX(a, b): {@code a > b ? a : b} (keeps a on NaN and on -0/+0 ties, unlike Math.max). */
    static float max(float a, float b) {
        return a > b ? a : b;
    }

    /** {@code w[i] = qw[i] * sqrtf(sigma2 + x[i]^2)}: the imatrix weight of every IQ encoder. */
    static void imatrixWeights(float[] x, int xo, float[] qw, int qwo, float sigma2, float[] w, int n) {
        for (int i = 0; i < n; i++) {
            float xi = x[xo + i];
            w[i] = qw[qwo + i] * (float) Math.sqrt(sigma2 + xi * xi);
        }
    }

    /** {@code sumx2} of a 256-element super-block, summed in order. */
    static float sumOfSquares(float[] x, int xo) {
        float s = 0;
        for (int i = 0; i < 256; i++) s += x[xo + i] * x[xo + i];
        return s;
    }

    /**
     * The sign step of IQ2_XXS, IQ2_XS and IQ3_XXS for 8 elements: {@code xval = |x|}, and if an odd number are
     * negative, the one with the smallest {@code w*x*x} (first on ties) keeps its sign flipped back so that the count
     * is even and 7 bits store it (the eighth is implied, see {@link IqGrid#signs7}). Returns the 7 sign bits.
     */
    static int evenSigns(float[] x, int xo, float[] w, int wo, float[] xval, int vo) {
        int nflip = 0;
        int s = 0;
        for (int i = 0; i < 8; i++) {
            float v = x[xo + i];
            if (v >= 0) {
                xval[vo + i] = v;
            } else {
                xval[vo + i] = -v;
                nflip++;
                s |= 1 << i;
            }
        }
        if ((nflip & 1) != 0) {
            int imin = 0;
            float min = w[wo] * x[xo] * x[xo];
            for (int i = 1; i < 8; i++) {
                float ax = w[wo + i] * x[xo + i] * x[xo + i];
                if (ax < min) {
                    min = ax;
                    imin = i;
                }
            }
            xval[vo + imin] = -xval[vo + imin];
            s ^= 1 << imin;
        }
        return s & 127;
    }

    /** The sign step of IQ2_S and IQ3_S: {@code xval = |x|}; returns the 8 sign bits. */
    static int plainSigns(float[] x, int xo, float[] xval, int vo) {
        int s = 0;
        for (int i = 0; i < 8; i++) {
            float v = x[xo + i];
            if (v >= 0) {
                xval[vo + i] = v;
            } else {
                xval[vo + i] = -v;
                s |= 1 << i;
            }
        }
        return s;
    }

    /** The level of a magnitude at inverse scale {@code id}: {@code nearest_int(0.5f*(id*x - 1))} clamped to [0, maxLevel]. */
    static int level(float id, float x, int maxLevel) {
        int l = nearestInt(0.5f * (id * x - 1));
        return Math.max(0, Math.min(maxLevel, l));
    }

    /** (float) (2*level + 1): the grid positions of ggml's search tables, as {@code float q = pg[i]} converts them. */
    private static final float[] POSITION = {1, 3, 5, 7, 9, 11, 13, 15};

    /**
     * iq2_find_best_neighbour / iq3_find_best_neighbour: among the neighbour list at {@code offset}, the grid point
     * with the smallest {@code sum w*(scale*pos - xval)^2} (first on ties); its levels go to {@code L[lo..]}.
     * The terms {@code w*diff*diff} are computed once per element and level into {@code terms} (each exactly as ggml
     * computes it, and summed in ggml's order, so the sums are ggml's), instead of once per neighbour ({@code terms}:
     * 72 floats of scratch).
     * ggml asserts that one was found, which fails only when every distance is NaN (NaN or infinite input); then the
     * first neighbour is taken here, to keep encoding total (callers reject non-finite rows before encoding).
     */
    static int bestNeighbour(IqGrid g, char[] neighbours, int offset, float[] xval, int xo, float[] w, int wo,
            float scale, byte[] L, int lo, float[] terms) {
        int dims = g.dims, levelCount = dims == 8 ? 3 : 8;
        for (int l = 0; l < levelCount; l++) terms[64 + l] = scale * POSITION[l]; // ggml's scale*q, the same for every i
        for (int i = 0; i < dims; i++) {
            float xi = xval[xo + i], wi = w[wo + i];
            for (int l = 0; l < levelCount; l++) {
                float diff = terms[64 + l] - xi;
                terms[8 * i + l] = wi * diff * diff;
            }
        }
        return nearest(g, neighbours, offset, terms, L, lo);
    }

    /** The neighbour with the smallest sum of {@code terms[8*i + level_i]} over its elements, first on ties. */
    private static int nearest(IqGrid g, char[] neighbours, int offset, float[] terms, byte[] L, int lo) {
        int count = neighbours[offset];
        float best = Float.MAX_VALUE;
        int code = -1;
        if (g.dims == 8) {
            for (int j = 1; j <= count; j++) {
                int c = neighbours[offset + j];
                float d2 = 0;
                d2 += terms[c & 3];
                d2 += terms[8 + (c >> 2 & 3)];
                d2 += terms[16 + (c >> 4 & 3)];
                d2 += terms[24 + (c >> 6 & 3)];
                d2 += terms[32 + (c >> 8 & 3)];
                d2 += terms[40 + (c >> 10 & 3)];
                d2 += terms[48 + (c >> 12 & 3)];
                d2 += terms[56 + (c >> 14 & 3)];
                if (d2 < best) {
                    best = d2;
                    code = c;
                }
            }
        } else {
            for (int j = 1; j <= count; j++) {
                int c = neighbours[offset + j];
                float d2 = 0;
                d2 += terms[c & 7];
                d2 += terms[8 + (c >> 3 & 7)];
                d2 += terms[16 + (c >> 6 & 7)];
                d2 += terms[24 + (c >> 9 & 7)];
                if (d2 < best) {
                    best = d2;
                    code = c;
                }
            }
        }
        if (code < 0) code = neighbours[offset + 1];
        int index = g.search().map[code];
        System.arraycopy(g.levels, index * g.dims, L, lo, g.dims);
        return index;
    }

    /** IQ1_S/IQ1_M's x_p and x_m: the values of the three levels shifted by +-IQ1S_DELTA (0.125). */
    static final float[] IQ1_PLUS = {-1 + 0.125f, 0.125f, 1 + 0.125f}, IQ1_MINUS = {-1 - 0.125f, -0.125f, 1 - 0.125f};

    /**
     * The order in which the IQ1 encoders' qsort of (x, index) pairs, compared by x alone, leaves the indices of
     * {@code x[xo..xo+n)}: ascending x, ties (-0 and +0 included) in index order, because glibc's qsort is a merge
     * sort for arrays this small, and merge sort is stable.
     */
    static void sortedOrder(float[] x, int xo, int n, int[] idx) {
        for (int j = 0; j < n; j++) {
            int v = j;
            float xv = x[xo + j];
            int k = j - 1;
            while (k >= 0 && x[xo + idx[k]] > xv) {
                idx[k + 1] = idx[k];
                k--;
            }
            idx[k + 1] = v;
        }
    }

    /**
     * iq1_find_best_neighbour2: the neighbour with the smallest {@code sum w*(scale*xg[level] - x)^2} (first on ties);
     * its levels go to {@code L[lo..]}. ggml searches the whole grid when no neighbour gives a distance below
     * FLT_MAX, which only NaN or infinite input can cause (and that search reads past its input); the first
     * neighbour is taken then.
     */
    static int bestNeighbourIq1(IqGrid g, char[] neighbours, int offset, float[] x, int xo, float[] w, int wo, float scale,
            float[] xg, byte[] L, int lo, float[] terms) {
        for (int i = 0; i < 8; i++) {
            float xi = x[xo + i], wi = w[wo + i];
            for (int l = 0; l < 3; l++) {
                float diff = scale * xg[l] - xi;
                terms[8 * i + l] = wi * diff * diff;
            }
        }
        return nearest(g, neighbours, offset, terms, L, lo);
    }

    /** Per-call scratch of {@link #searchScale}: codes of the best and the current trial, and which groups were on the grid. */
    static final class Trial {
        final byte[] L = new byte[32];
        final byte[] Laux = new byte[32];
        final boolean[] onGrid = new boolean[8];
        final boolean[] onGridAux = new boolean[8];
        final float[] terms = new float[72];
    }

    /**
     * The scale search of the IQ2_XS, IQ2_S, IQ3_XXS and IQ3_S encoders for one sub-block of {@code n} magnitudes
     * {@code xval} (largest {@code max > 0}): for inverse scales {@code (2*kMaxQ-1 + is*step)/max}, is in
     * [-steps, steps], every group of {@code g.dims} takes the nearest levels, or the best neighbour on the grid if
     * those are not a grid point; the trial with the largest {@code sumqx^2/sumq2} wins (first on ties). Groups that
     * came from neighbours (all groups when {@code researchAll}, as IQ3_S does) are then searched again at the winning
     * scale, which is refitted. Leaves the levels of grid points in {@code t.L} and returns the scale.
     */
    static float searchScale(IqGrid g, int n, float[] xval, float[] weight, float[] waux, float max, int steps, float step,
            boolean researchAll, Trial t) {
        IqGrid.Search s = g.search();
        int dims = g.dims, groups = n / dims, bits = g.bits;
        int maxLevel = dims == 8 ? 2 : 7; // kMaxQ - 1
        int top = 2 * maxLevel + 1; // 2*kMaxQ - 1
        byte[] L = t.L, Laux = t.Laux;
        java.util.Arrays.fill(L, 0, n, (byte) 0);
        java.util.Arrays.fill(t.onGrid, 0, groups, !researchAll);
        float best = 0;
        float scale = max / top;
        for (int is = -steps; is <= steps; is++) {
            float id = (top + is * step) / max;
            float thisScale = 1 / id;
            for (int k = 0; k < groups; k++) {
                int u = 0;
                for (int i = 0; i < dims; i++) {
                    int l = level(id, xval[dims * k + i], maxLevel);
                    Laux[dims * k + i] = (byte) l;
                    u |= l << (bits * i);
                }
                int gi = s.map[u];
                t.onGridAux[k] = gi >= 0;
                if (gi < 0) bestNeighbour(g, s.neighbours, -gi - 1, xval, dims * k, waux, dims * k, thisScale, Laux, dims * k, t.terms);
            }
            float sumqx = 0, sumq2 = 0;
            for (int i = 0; i < n; i++) {
                float w = weight[i];
                float q = 2 * Laux[i] + 1;
                sumqx += w * xval[i] * q;
                sumq2 += w * q * q;
            }
            if (sumq2 > 0 && sumqx * sumqx > best * sumq2) {
                scale = sumqx / sumq2;
                best = scale * sumqx;
                System.arraycopy(Laux, 0, L, 0, n);
                System.arraycopy(t.onGridAux, 0, t.onGrid, 0, groups);
            }
        }
        int notOnGrid = 0;
        for (int k = 0; k < groups; k++) if (!t.onGrid[k]) notOnGrid++;
        if (notOnGrid > 0 && scale > 0) {
            float id = 1 / scale;
            for (int k = 0; k < groups; k++) {
                if (!researchAll && t.onGrid[k]) continue;
                int u = 0;
                for (int i = 0; i < dims; i++) u |= level(id, xval[dims * k + i], maxLevel) << (bits * i);
                int gi = s.map[u];
                if (gi < 0) gi = bestNeighbour(g, s.neighbours, -gi - 1, xval, dims * k, waux, dims * k, scale, L, dims * k, t.terms);
                System.arraycopy(g.levels, gi * dims, L, dims * k, dims);
            }
            scale = refitScale(xval, weight, L, n, scale);
        }
        return scale;
    }

    /**
     * The weighted least-squares scale of {@code xval[0..n)} onto the values {@code 2*L[i]+1}, the sums taken in element
     * order as ggml's final refit takes them; {@code scale} unchanged when no weight falls on a value.
     */
    static float refitScale(float[] xval, float[] weight, byte[] L, int n, float scale) {
        float sumqx = 0, sumq2 = 0;
        for (int i = 0; i < n; i++) {
            float w = weight[i];
            float q = 2 * L[i] + 1;
            sumqx += w * xval[i] * q;
            sumq2 += w * q * q;
        }
        return sumq2 > 0 ? sumqx / sumq2 : scale;
    }

    /**
     * The grid point of group {@code k} of {@code L}, whose levels are a grid point by construction for finite input.
     * After NaN or infinite input they may not be (ggml aborts there: "Oops: found point not on grid"); point 0 is
     * taken then, to keep encoding total.
     */
    static int gridIndex(IqGrid g, byte[] L, int k) {
        int u = 0;
        for (int i = 0; i < g.dims; i++) u |= L[g.dims * k + i] << (g.bits * i);
        int[] map = g.search().map;
        return u >= 0 && u < map.length && map[u] >= 0 ? map[u] : 0;
    }
}
