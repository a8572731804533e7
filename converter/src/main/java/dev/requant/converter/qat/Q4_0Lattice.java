package dev.requant.converter.qat;

import dev.requant.formats.ggml.BFloat16;
import dev.requant.formats.ggml.Float16;
import dev.requant.formats.io.LittleEndian;
import java.lang.foreign.MemorySegment;

/**
 * Recovers the Q4_0 lattice of one block of 32 stored weights: codes q[i] in -8..7 and an F16 scale d such that
 * llama.cpp's dequantization, q[i]*d in float32, rounded to the checkpoint's precision gives back every stored value
 * bit for bit.
 *
 * <p>Why an interval search: a QAT checkpoint stores round(q*d), so each stored value s admits every d with q*d in the
 * interval of reals that round to s. For the block's extreme element, each candidate code k gives an interval of d;
 * every other element then has at most one code consistent with it (the interval is about 2^-8 wide relative to d, far
 * narrower than the spacing of codes), which narrows the interval further. Any F16 value left in the final interval is
 * a solution. Candidates are tried in order of how QAT defines scales: signed extremum/-8 first (llama.cpp's and
 * mlx's rule), then absmax/7, then learned scales (smaller extreme codes).
 *
 * <p>The product q*d is exact in float32 (|q| <= 8 has 4 bits, an F16 significand 11), so verification is exact. A
 * block with no exact F16 solution (an FP32 scale that no F16 value reproduces, a scale outside F16's range, or values
 * not on any lattice) gets the least-error F16 scale among the candidates below and is reported as inexact.
 *
 * <p>Not thread-safe: one instance per thread (it keeps scratch arrays and the last block's result).
 */
public final class Q4_0Lattice {
    public static final int QK = 32;
    public static final int BLOCK_BYTES = 18;
    private static final double EPS = 1e-9;

    private final StoredPrecision precision;

    // result of the last block
    private final byte[] codes = new byte[QK];
    private float scale;
    private boolean exact;
    private LatticeRule rule;
    private int extremeCode;
    private boolean bf16Scale;
    private int zeroSignMismatches;
    private double maxAbsError;

    // scratch
    private final float[] x = new float[QK];
    private final float[] mag = new float[QK];
    private final double[] lo = new double[QK];
    private final double[] hi = new double[QK];
    private final double[] iv = new double[2];
    private boolean preferNegativeScale;
    private int extreme;
    private boolean candidateNegative;
    private double feasibleLo, feasibleHi;

    public Q4_0Lattice(StoredPrecision precision) {
        this.precision = precision;
    }

    public StoredPrecision precision() { return precision; }

    /**
     * Solves the block {@code src[off..off+32)}; returns whether an exact lattice was found. Afterwards the accessors
     * describe the chosen codes and scale (exact or, failing that, least-error).
     *
     * @param importance per-column weights for the least-error fallback (may be null = unweighted); read at
     *     {@code importance[importanceOff + i]}
     */
    public boolean solve(float[] src, int off, float[] importance, int importanceOff) {
        int nonzero = 0, posZeros = 0, negZeros = 0;
        float amax = -1f;
        extreme = -1;
        for (int i = 0; i < QK; i++) {
            float v = src[off + i];
            x[i] = v;
            float a = Math.abs(v);
            mag[i] = a;
            if (a == 0f) {
                if (Float.floatToRawIntBits(v) < 0) negZeros++; else posZeros++;
                continue;
            }
            nonzero++;
            if (a > amax) {
                amax = a;
                extreme = i;
            }
        }
        zeroSignMismatches = 0;
        maxAbsError = 0;
        if (nonzero == 0) {
            // Any scale works; its sign decides the sign of 0*d, so follow the stored zeros (majority).
            java.util.Arrays.fill(codes, (byte) 0);
            scale = negZeros > posZeros ? -0.0f : 0.0f;
            zeroSignMismatches = Math.min(negZeros, posZeros);
            rule = LatticeRule.ZERO;
            extremeCode = 0;
            bf16Scale = true;
            exact = true;
            return true;
        }
        if (!Float.isFinite(amax)) {
            return fallback(importance, importanceOff);
        }
        for (int i = 0; i < QK; i++) {
            if (mag[i] == 0f) continue;
            precision.interval(mag[i], iv);
            lo[i] = iv[0];
            hi[i] = iv[1];
        }
        // Stored zeros come from code 0: 0*d carries the sign of d. Bitwise exactness needs d of the zeros' sign.
        boolean hasPreference = (posZeros > 0) != (negZeros > 0);
        preferNegativeScale = negZeros > 0 && posZeros == 0;
        boolean extremeNegative = x[extreme] < 0;
        for (int pass = 0; pass < (hasPreference ? 2 : 1); pass++) {
            for (int k = 8; k >= 1; k--) {
                // The extreme element gets code -k when d has the opposite sign (allowed down to -8), +k otherwise (up to 7).
                for (int variant = 0; variant < 2; variant++) {
                    // k = 8 exists only as -8 (d opposite to the extreme); below, +k (absmax/7 style) comes first.
                    if (k == 8 && variant == 1) break;
                    boolean opposite = k == 8 || variant == 1;
                    boolean negative = opposite != extremeNegative;
                    if (hasPreference && (negative == preferNegativeScale) != (pass == 0)) continue;
                    if (tryCandidate(k, negative)) {
                        exact = true;
                        extremeCode = k;
                        rule = k == 8 ? LatticeRule.SIGNED_MAX_OVER_NEG8 : k == 7 ? LatticeRule.ABSMAX_OVER_7 : LatticeRule.LEARNED;
                        return true;
                    }
                }
            }
        }
        return fallback(importance, importanceOff);
    }

    /** Extreme element code magnitude {@code k}, scale sign {@code negative}. */
    private boolean tryCandidate(int k, boolean negative) {
        candidateNegative = negative;
        float xm = x[extreme];
        // Fast path: the scale is exactly the extreme value over its code (always so for BF16-held scales).
        float q = (xm < 0) == negative ? k : -k;
        float d0 = xm / q;
        if (Float16.round(d0) == d0 && verify(d0)) {
            feasibleLo = feasibleHi = Math.abs(d0);
            bf16Scale = BFloat16.round(d0) == d0 || anyBf16Verifies();
            return true;
        }
        return search(0, lo[extreme] / k, hi[extreme] / k);
    }

    /** Depth-first over the elements from {@code i}, with |d| in [dLo, dHi]. */
    private boolean search(int i, double dLo, double dHi) {
        for (; i < QK; i++) {
            if (i == extreme || mag[i] == 0f) continue;
            boolean positiveCode = (x[i] < 0) == candidateNegative;
            int cap = positiveCode ? 7 : 8;
            int kMin = Math.max(1, (int) Math.ceil(lo[i] / dHi * (1 - EPS)));
            int kMax = Math.min(cap, (int) Math.floor(hi[i] / dLo * (1 + EPS)));
            if (kMin > kMax) return false;
            if (kMin < kMax) {
                // Ambiguous only while the interval is still wide; try each code.
                for (int kk = kMin; kk <= kMax; kk++) {
                    double nLo = Math.max(dLo, lo[i] / kk), nHi = Math.min(dHi, hi[i] / kk);
                    if (nLo <= nHi * (1 + EPS) && search(i + 1, nLo, nHi)) return true;
                }
                return false;
            }
            dLo = Math.max(dLo, lo[i] / kMin);
            dHi = Math.min(dHi, hi[i] / kMin);
            if (dLo > dHi * (1 + EPS)) return false;
        }
        return pickF16(dLo, dHi);
    }

    /** Tries every F16 magnitude in the interval (there are few) and keeps the first that verifies. */
    private boolean pickF16(double dLo, double dHi) {
        double from = dLo * (1 - EPS), to = dHi * (1 + EPS);
        if (from > 65504) return false;
        short h = Float16.fromFloat((float) from);
        while (h > 0 && Float16.toFloat(h) > from) h--;
        for (int steps = 0; steps < 64; steps++, h++) {
            float f = Float16.toFloat(h);
            if (!Float.isFinite(f) || f > to) break;
            if (f < from || f == 0f) continue;
            float d = candidateNegative ? -f : f;
            if (verify(d)) {
                feasibleLo = dLo;
                feasibleHi = dHi;
                bf16Scale = BFloat16.round(d) == d || anyBf16Verifies();
                return true;
            }
        }
        return false;
    }

    /** Whether some BF16 value in the feasible interval also reproduces the block (a BF16-held scale fits). */
    private boolean anyBf16Verifies() {
        float saveScale = scale;
        byte[] save = codes.clone();
        boolean found = false;
        float from = (float) (feasibleLo * (1 - EPS));
        short b = BFloat16.fromFloat(from);
        if (BFloat16.toFloat(b) > from) b--;
        for (int steps = 0; steps < 8 && !found; steps++, b++) {
            float f = BFloat16.toFloat(b);
            if (f > feasibleHi * (1 + EPS)) break;
            if (f <= 0f || Float16.round(f) != f) continue;
            found = verify(candidateNegative ? -f : f);
        }
        scale = saveScale;
        System.arraycopy(save, 0, codes, 0, QK);
        return found;
    }

    /** Exact check of a scale: nearest codes, float32 products, rounded to the stored precision, bit for bit. */
    private boolean verify(float d) {
        float inv = 1f / d;
        int zeroMismatch = 0;
        for (int i = 0; i < QK; i++) {
            float v = x[i];
            int q = (int) Math.rint(v * inv);
            q = q < -8 ? -8 : (q > 7 ? 7 : q);
            float p = precision.round((float) q * d);
            if (Float.floatToRawIntBits(p) != Float.floatToRawIntBits(v)) {
                if (p == 0f && v == 0f) zeroMismatch++;
                else return false;
            }
            codes[i] = (byte) q;
        }
        scale = d;
        zeroSignMismatches = zeroMismatch;
        return true;
    }

    /**
     * No exact lattice: the least (importance-)weighted squared error among F16 scales near the natural hypotheses
     * (llama.cpp's extremum/-8, absmax/7, and least-squares refits of their codes), each with nearest codes.
     */
    private boolean fallback(float[] importance, int importanceOff) {
        exact = false;
        rule = LatticeRule.LEARNED;
        extremeCode = 0;
        bf16Scale = false;
        float xm = extreme >= 0 ? x[extreme] : 0f;
        double bestErr = Double.POSITIVE_INFINITY;
        float best = 0f;
        float[] hypotheses = {xm / -8f, xm / 7f, -xm / 7f};
        for (int round = 0; round < 2; round++) {
            for (float h : hypotheses) {
                if (h == 0f || !Float.isFinite(h)) continue;
                short c = Float16.fromFloat(h);
                for (int dlt = -3; dlt <= 3; dlt++) {
                    float d = Float16.toFloat((short) (c + dlt));
                    if (!Float.isFinite(d) || d == 0f || Math.signum(d) != Math.signum(h)) continue;
                    double e = weightedError(d, importance, importanceOff);
                    if (e < bestErr) {
                        bestErr = e;
                        best = d;
                    }
                }
            }
            if (best == 0f) break;
            // Least-squares refit of the best codes, then search its F16 neighbourhood once more.
            double num = 0, den = 0;
            for (int i = 0; i < QK; i++) {
                int q = nearestCode(x[i], best);
                double w = importance == null ? 1 : importance[importanceOff + i];
                num += w * x[i] * q;
                den += w * (double) q * q;
            }
            if (den == 0) break;
            hypotheses = new float[] {(float) (num / den)};
        }
        if (best == 0f || !Float.isFinite(best)) {
            // Values beyond what any F16 scale can reach: clamp to the largest scale.
            best = Float16.toFloat((short) 0x7BFF) * (xm < 0 ? 1 : -1);
        }
        scale = best;
        maxAbsError = 0;
        for (int i = 0; i < QK; i++) {
            int q = nearestCode(x[i], best);
            codes[i] = (byte) q;
            float p = (float) q * best;
            maxAbsError = Math.max(maxAbsError, Math.abs((double) p - x[i]));
        }
        return false;
    }

    private static int nearestCode(float v, float d) {
        int q = (int) Math.rint(v / d);
        return q < -8 ? -8 : (q > 7 ? 7 : q);
    }

    private double weightedError(float d, float[] importance, int importanceOff) {
        double e = 0;
        for (int i = 0; i < QK; i++) {
            int q = nearestCode(x[i], d);
            double r = (double) x[i] - (double) ((float) q * d);
            e += (importance == null ? 1 : importance[importanceOff + i]) * r * r;
        }
        return e;
    }

    /** Writes the last block as llama.cpp's block_q4_0: fp16 d, then element j | element j+16 << 4 as codes+8. */
    public void writeBlock(MemorySegment dst, long off) {
        dst.set(LittleEndian.SHORT, off, Float16.fromFloat(scale));
        for (int j = 0; j < QK / 2; j++) {
            int lo4 = codes[j] + 8, hi4 = codes[j + QK / 2] + 8;
            dst.set(LittleEndian.BYTE, off + 2 + j, (byte) (lo4 | (hi4 << 4)));
        }
    }

    public boolean exact() { return exact; }

    /** The chosen scale (an F16 value). */
    public float scale() { return scale; }

    /** Code of element i, in -8..7. */
    public int code(int i) { return codes[i]; }

    /**
     * The rule this block alone suggests, from its extreme element's code (8: max/-8, 7: absmax/7, smaller: learned).
     * One block cannot tell absmax/7 from a learned scale that happened to give 7; {@link LatticeStats} decides per
     * tensor from the distribution of extreme codes.
     */
    public LatticeRule rule() { return rule; }

    /** |code| of the block's extreme element in the exact solution (1..8), 0 for zero or inexact blocks. */
    public int extremeCode() { return extremeCode; }

    /** Whether a BF16 value also reproduces the block exactly (true for checkpoints whose QAT scales were BF16). */
    public boolean bf16Scale() { return bf16Scale; }

    /** Stored zeros whose sign the chosen scale cannot reproduce (their value is still exact). */
    public int zeroSignMismatches() { return zeroSignMismatches; }

    /** Largest |dequantized - stored| of the last block (0 when exact). */
    public double maxAbsError() { return maxAbsError; }
}
