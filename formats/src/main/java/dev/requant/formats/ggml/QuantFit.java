package dev.requant.formats.ggml;

import static dev.requant.formats.ggml.Rounding.nearestInt;

/**
 * The scale searches of ggml-quants.c (make_qx_quants, make_qkx2_quants, make_qkx3_quants, make_qp_quants),
 * transliterated operation for operation: binary32 throughout, left-to-right evaluation, no fused multiply-add, int
 * operands converted to float where C converts them, and integer codes stored with the width C stores them in
 * (int8 or uint8). These are public so that other encoders (an exhaustive search, say) can reuse llama.cpp's fits
 * and weights and improve on them.
 */
public final class QuantFit {
    private QuantFit() {}

    /** GROUP_MAX_EPS: a group whose largest magnitude is below this is treated as all zero. */
    public static final float GROUP_MAX_EPS = 1e-15f;

    private static float weightOf(int rmseType, float[] qw, int qwo, float xi, int i) {
        if (qw != null) return qw[qwo + i];
        return switch (rmseType) {
            case 1 -> xi * xi;
            case 2 -> 1f;
            case 3 -> Math.abs(xi);
            default -> (float) Math.sqrt(Math.abs(xi));
        };
    }

    /**
     * The element of largest magnitude of {@code x[xo..xo+n)}, the first of equals (NaN never wins), signed: the sign
     * of a make_qx/make_q3 scale follows it; 0 for an empty or all-zero group.
     */
    static float largestMagnitude(float[] x, int xo, int n) {
        // The largest magnitude first, as a maximum of raw bits (the order of non-negative floats; NaN above Inf):
        // branch-free, where the scan's "a new largest?" branch is as good as random on real weights and its
        // mispredictions made this the hottest method of Q3_K's plain encoder. Then the first element of that
        // magnitude, which is the one the scan keeps.
        int bits = largestMagnitudeBits(x, xo, n);
        if (bits == 0) return 0; // empty or all zeros (of either sign): the scan's initial 0
        if (bits > 0x7f800000) return largestMagnitudeScan(x, xo, n); // a NaN, which the scan passes over
        int i = xo;
        while ((Float.floatToRawIntBits(x[i]) & 0x7fffffff) != bits) i++;
        return x[i];
    }

    /**
     * The raw bits of the largest |x| of {@code x[xo..xo+n)} (0 for none): for non-negative floats the order of the raw
     * bits is the order of the values, with Inf above every finite one and NaN above Inf, so this is an integer
     * maximum, which the JIT vectorizes and which has no data-dependent branch.
     */
    static int largestMagnitudeBits(float[] x, int xo, int n) {
        int bits = 0;
        for (int i = 0; i < n; ++i) bits = Math.max(bits, Float.floatToRawIntBits(x[xo + i]) & 0x7fffffff);
        return bits;
    }

    /** {@link #largestMagnitude} as make_qx_quants writes it (the reference, and the path for groups holding NaN). */
    static float largestMagnitudeScan(float[] x, int xo, int n) {
        float max = 0;
        float amax = 0;
        for (int i = 0; i < n; ++i) {
            float ax = Math.abs(x[xo + i]);
            if (ax > amax) {
                amax = ax;
                max = x[xo + i];
            }
        }
        return max;
    }

    private static int clampSym(int l, int nmax) {
        return Math.max(-nmax, Math.min(nmax - 1, l));
    }

    /**
     * make_qx_quants: symmetric codes {@code L[i] in [0, 2*nmax)} (stored as int8, offset by nmax) and the scale
     * {@code d} such that {@code x ~ d * (L - nmax)}. The sign of d follows the first largest-magnitude element.
     *
     * @param qw weights, or null for the rmse_type default (1: x^2, 2: 1, 3: |x|, else sqrt|x|)
     */
    public static float makeQxQuants(int n, int nmax, float[] x, int xo, byte[] L, int lo, int rmseType,
            float[] qw, int qwo) {
        float max = largestMagnitude(x, xo, n);
        float amax = Math.abs(max);
        if (amax < GROUP_MAX_EPS) {
            for (int i = 0; i < n; ++i) L[lo + i] = 0;
            return 0f;
        }
        float iscale = -nmax / max;
        if (rmseType == 0) {
            for (int i = 0; i < n; ++i) {
                int l = nearestInt(iscale * x[xo + i]);
                L[lo + i] = (byte) (nmax + clampSym(l, nmax));
            }
            return 1 / iscale;
        }
        boolean returnEarly = false;
        if (rmseType < 0) {
            rmseType = -rmseType;
            returnEarly = true;
        }
        float sumlx = 0;
        float suml2 = 0;
        for (int i = 0; i < n; ++i) {
            float xi = x[xo + i];
            int l = clampSym(nearestInt(iscale * xi), nmax);
            L[lo + i] = (byte) (l + nmax);
            float w = weightOf(rmseType, qw, qwo, xi, i);
            sumlx += w * xi * l;
            suml2 += w * l * l;
        }
        float scale = suml2 != 0 ? sumlx / suml2 : 0.0f;
        if (returnEarly) return suml2 > 0 ? 0.5f * (scale + 1 / iscale) : 1 / iscale;
        float best = scale * sumlx;
        for (int is = -9; is <= 9; ++is) {
            if (is == 0) continue;
            iscale = -(nmax + 0.1f * is) / max;
            sumlx = 0;
            suml2 = 0;
            for (int i = 0; i < n; ++i) {
                float xi = x[xo + i];
                int l = clampSym(nearestInt(iscale * xi), nmax);
                float w = weightOf(rmseType, qw, qwo, xi, i);
                sumlx += w * xi * l;
                suml2 += w * l * l;
            }
            if (suml2 > 0 && sumlx * sumlx > best * suml2) {
                for (int i = 0; i < n; ++i) {
                    int l = nearestInt(iscale * x[xo + i]);
                    L[lo + i] = (byte) (nmax + clampSym(l, nmax));
                }
                scale = sumlx / suml2;
                best = scale * sumlx;
            }
        }
        return scale;
    }

    /**
     * make_q3_quants (Q3_K without importance): symmetric codes {@code L in [0, 2*nmax)} (int8, offset by nmax) with
     * weights x^2, refined by up to five rounds of moving single codes to the least-squares optimum; returns the scale
     * (its sign follows the first largest-magnitude element, as in {@link #makeQxQuants}).
     */
    public static float makeQ3Quants(int n, int nmax, float[] x, int xo, byte[] L, int lo) {
        float max = largestMagnitude(x, xo, n);
        float amax = Math.abs(max);
        if (amax < GROUP_MAX_EPS) {
            for (int i = 0; i < n; ++i) L[lo + i] = 0;
            return 0f;
        }
        float iscale = -nmax / max;
        float sumlx = 0;
        float suml2 = 0;
        for (int i = 0; i < n; ++i) {
            float xi = x[xo + i];
            int l = clampSym(nearestInt(iscale * xi), nmax);
            L[lo + i] = (byte) l;
            float w = xi * xi;
            sumlx += w * xi * l;
            suml2 += w * l * l;
        }
        for (int itry = 0; itry < 5; ++itry) {
            int nChanged = 0;
            for (int i = 0; i < n; ++i) {
                float xi = x[xo + i];
                float w = xi * xi;
                int li = L[lo + i];
                float slx = sumlx - w * xi * li;
                if (slx > 0) {
                    float sl2 = suml2 - w * li * li;
                    int newL = clampSym(nearestInt(xi * sl2 / slx), nmax);
                    if (newL != li) {
                        slx += w * xi * newL;
                        sl2 += w * newL * newL;
                        if (sl2 > 0 && slx * slx * suml2 > sumlx * sumlx * sl2) {
                            L[lo + i] = (byte) newL;
                            sumlx = slx;
                            suml2 = sl2;
                            ++nChanged;
                        }
                    }
                }
            }
            if (nChanged == 0) break;
        }
        for (int i = 0; i < n; ++i) L[lo + i] += (byte) nmax;
        return suml2 > 0.0f ? sumlx / suml2 : 0.0f;
    }

    /**
     * make_qkx2_quants (reference K-quants): an asymmetric fit {@code x ~ scale * L - theMin} with codes
     * {@code L in [0, nmax]} (uint8), refined over {@code nstep+1} trial scales.
     *
     * @param minOut receives the_min (a non-negative offset) at {@code minOut[minIdx]}
     * @return the scale
     */
    public static float makeQkx2Quants(int n, int nmax, float[] x, int xo, float[] weights, int wo, byte[] L, int lo,
            float[] minOut, int minIdx, byte[] Laux, float rmin, float rdelta, int nstep, boolean useMad) {
        return makeQkx(false, n, nmax, x, xo, weights, wo, L, lo, minOut, minIdx, Laux, rmin, rdelta, nstep, useMad);
    }

    /**
     * make_qkx3_quants (imatrix K-quants and Q4_1/Q5_1): as {@link #makeQkx2Quants}, but {@code weights} may be
     * null (then w = x^2) and a group with {@code max <= min} is degenerate.
     */
    public static float makeQkx3Quants(int n, int nmax, float[] x, int xo, float[] weights, int wo, byte[] L, int lo,
            float[] minOut, int minIdx, byte[] Laux, float rmin, float rdelta, int nstep, boolean useMad) {
        return makeQkx(true, n, nmax, x, xo, weights, wo, L, lo, minOut, minIdx, Laux, rmin, rdelta, nstep, useMad);
    }

    private static float makeQkx(boolean v3, int n, int nmax, float[] x, int xo, float[] weights, int wo, byte[] L,
            int lo, float[] minOut, int minIdx, byte[] Laux, float rmin, float rdelta, int nstep, boolean useMad) {
        float min = x[xo];
        float max = x[xo];
        float sumW = weights != null ? weights[wo] : x[xo] * x[xo];
        float sumX = sumW * x[xo];
        for (int i = 1; i < n; ++i) {
            float xi = x[xo + i];
            if (xi < min) min = xi;
            if (xi > max) max = xi;
            float w = weights != null ? weights[wo + i] : xi * xi;
            sumW += w;
            sumX += w * xi;
        }
        if (min > 0) min = 0;
        if (v3 ? max <= min : max == min) {
            for (int i = 0; i < n; ++i) L[lo + i] = 0;
            minOut[minIdx] = -min;
            return 0.f;
        }
        float iscale = nmax / (max - min);
        float scale = 1 / iscale;
        float bestError = 0;
        for (int i = 0; i < n; ++i) {
            float xi = x[xo + i];
            int l = nearestInt(iscale * (xi - min));
            int li = Math.max(0, Math.min(nmax, l));
            L[lo + i] = (byte) li;
            float diff = scale * li + min - xi;
            diff = useMad ? Math.abs(diff) : diff * diff;
            float w = weights != null ? weights[wo + i] : xi * xi;
            bestError += w * diff;
        }
        if (nstep < 1) {
            minOut[minIdx] = -min;
            return scale;
        }
        for (int is = 0; is <= nstep; ++is) {
            iscale = (rmin + rdelta * is + nmax) / (max - min);
            float sumL = 0, sumL2 = 0, sumXl = 0;
            for (int i = 0; i < n; ++i) {
                float xi = x[xo + i];
                int l = nearestInt(iscale * (xi - min));
                l = Math.max(0, Math.min(nmax, l));
                Laux[i] = (byte) l;
                float w = weights != null ? weights[wo + i] : xi * xi;
                sumL += w * l;
                sumL2 += w * l * l;
                sumXl += w * l * xi;
            }
            float D = sumW * sumL2 - sumL * sumL;
            if (D > 0) {
                float thisScale = (sumW * sumXl - sumX * sumL) / D;
                float thisMin = (sumL2 * sumX - sumL * sumXl) / D;
                if (thisMin > 0) {
                    thisMin = 0;
                    thisScale = sumXl / sumL2;
                }
                float curError = 0;
                for (int i = 0; i < n; ++i) {
                    float xi = x[xo + i];
                    float diff = thisScale * (Laux[i] & 0xFF) + thisMin - xi;
                    diff = useMad ? Math.abs(diff) : diff * diff;
                    float w = weights != null ? weights[wo + i] : xi * xi;
                    curError += w * diff;
                }
                if (curError < bestError) {
                    System.arraycopy(Laux, 0, L, lo, n);
                    bestError = curError;
                    scale = thisScale;
                    min = thisMin;
                }
            }
        }
        minOut[minIdx] = -min;
        return scale;
    }

    /**
     * make_qp_quants: quantizes non-negative values (sub-block scales or mins) to {@code L in [0, nmax]} (uint8) with
     * one positive scale, minimising the {@code quantWeights}-weighted squared error; returns the scale.
     */
    public static float makeQpQuants(int n, int nmax, float[] x, int xo, byte[] L, int lo, float[] quantWeights, int qwo) {
        float max = 0;
        for (int i = 0; i < n; ++i) max = max > x[xo + i] ? max : x[xo + i];
        if (max < GROUP_MAX_EPS) {
            for (int i = 0; i < n; ++i) L[lo + i] = 0;
            return 0.f;
        }
        float iscale = nmax / max;
        for (int i = 0; i < n; ++i) L[lo + i] = (byte) nearestInt(iscale * x[xo + i]);
        float scale = 1 / iscale;
        float bestMse = 0;
        for (int i = 0; i < n; ++i) {
            float diff = x[xo + i] - scale * (L[lo + i] & 0xFF);
            float w = quantWeights[qwo + i];
            bestMse += w * diff * diff;
        }
        for (int is = -4; is <= 4; ++is) {
            if (is == 0) continue;
            float iscaleIs = (0.1f * is + nmax) / max;
            float scaleIs = 1 / iscaleIs;
            float mse = 0;
            for (int i = 0; i < n; ++i) {
                int l = Math.min(nmax, nearestInt(iscaleIs * x[xo + i]));
                float diff = x[xo + i] - scaleIs * l;
                float w = quantWeights[qwo + i];
                mse += w * diff * diff;
            }
            if (mse < bestMse) {
                bestMse = mse;
                iscale = iscaleIs;
            }
        }
        float sumlx = 0;
        float suml2 = 0;
        for (int i = 0; i < n; ++i) {
            int l = Math.min(nmax, nearestInt(iscale * x[xo + i]));
            L[lo + i] = (byte) l;
            float w = quantWeights[qwo + i];
            sumlx += w * x[xo + i] * l;
            suml2 += w * l * l;
        }
        for (int itry = 0; itry < 5; ++itry) {
            int nChanged = 0;
            for (int i = 0; i < n; ++i) {
                float w = quantWeights[qwo + i];
                float xi = x[xo + i];
                int li = L[lo + i] & 0xFF;
                float slx = sumlx - w * xi * li;
                float sl2 = suml2 - w * li * li;
                if (slx > 0 && sl2 > 0) {
                    int newL = Math.min(nmax, nearestInt(xi * sl2 / slx));
                    if (newL != li) {
                        slx += w * xi * newL;
                        sl2 += w * newL * newL;
                        if (slx * slx * suml2 > sumlx * sumlx * sl2) {
                            L[lo + i] = (byte) newL;
                            sumlx = slx;
                            suml2 = sl2;
                            ++nChanged;
                        }
                    }
                }
            }
            if (nChanged == 0) break;
        }
        return suml2 > 0.0f ? sumlx / suml2 : 0.0f;
    }
}
