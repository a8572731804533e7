package dev.requant.converter.qat;

import dev.requant.formats.ggml.BFloat16;
import dev.requant.formats.ggml.Float16;
import dev.requant.formats.ggml.VectorSupport;
import dev.requant.formats.io.LittleEndian;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;

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
    /** Blocks whose largest magnitude is below this could hold BF16 subnormals, outside the bound of plausible(). */
    private static final float MIN_PLAUSIBLE_EXTREME = 0x1p-100f;
    /**
     * Whether the fast path's kernels are the Vector API's ({@link Q4_0LatticeVector}: the jdk.incubator.vector module is
     * present, the vectors are 8 or 16 floats wide, and neither -Drequant.vector=false nor -Drequant.lattice=lanes says
     * otherwise) or their plain-Java lanes ({@link Q4_0LatticeLanes}, same answers). Without the module the vector class
     * is never loaded.
     */
    static final boolean VECTOR = VectorSupport.enabled() && !"lanes".equals(System.getProperty("requant.lattice"))
            && Q4_0LatticeVector.supported();

    private final StoredPrecision precision;

    // result of the last block
    /**
     * Codes as floats (small integers, exact): the vector verification stores its rounded quotients as they are, and
     * {@link #writeBlock} packs them with one conversion per block instead of one per verified candidate.
     */
    private final float[] codes = new float[QK];
    private float scale;
    private boolean exact;
    private LatticeRule rule;
    private int extremeCode;
    private boolean bf16Scale;
    private int zeroSignMismatches;
    private double maxAbsError;

    // scratch
    private float[] x;      // the block being solved is x[xo .. xo+32)
    private int xo;
    private final float[] mag = new float[QK];
    private boolean intervalsReady;
    private final float[] savedCodes = new float[QK];
    private final byte[] blockBytes = new byte[BLOCK_BYTES];
    /**
     * Whether this instance takes the fast path (quick rejection of candidates, the kernels of {@link #VECTOR}); false:
     * the scalar reference, see {@link #useScalarPath}.
     */
    private boolean vector = true;
    /** Whether the fast path uses the Vector API kernels (where {@link #VECTOR}); false: the lanes, see {@link #useLanes}. */
    private boolean vectorKernels = true;
    private final double[] lo = new double[QK];
    private final double[] hi = new double[QK];
    private final double[] iv = new double[2];
    private boolean preferNegativeScale;
    private int extreme;
    private boolean candidateNegative;
    private double feasibleLo, feasibleHi;
    private boolean quickReject;
    /** Bit k: {@link #plausible}(k) was computed for this block; in {@link #plausibleOk}, its answer. */
    private int plausibleKnown, plausibleOk;
    /** The ratios of {@link #prepareQuickReject}. */
    private final float[] ratio = new float[QK];
    private final int[] zeroCounts = new int[2];
    private final double[] bounds = new double[2];
    /** {@link #weightedError}'s terms on the fast path, one per element. */
    private final double[] errorTerms = new double[QK];

    /** Blocks {@link #encodeRows} solves side by side where it can ({@link Q4_0LatticeVector#solveBatch}); 0 without the Vector API. */
    private static final int BATCH = VECTOR ? Q4_0LatticeVector.batchBlocks() : 0;
    private static final long BATCH_LANES = (1L << BATCH) - 1;
    /** {@link Q4_0LatticeVector#solveBatch}'s scratch and results: the blocks transposed and their ratios; code bytes, F16 scales, extreme codes. */
    private final float[] batchX = new float[2 * BATCH * QK];
    private final int[] batchWords = new int[BATCH * QK / 8];
    private final int[] batchHalves = new int[BATCH];
    private final int[] batchCodes = new int[BATCH];
    /** Where {@link #measureRow} has its blocks written (and forgotten): encodeRows then has no branch for "no output". */
    private MemorySegment sink = MemorySegment.NULL;

    public Q4_0Lattice(StoredPrecision precision) {
        this.precision = precision;
    }

    public StoredPrecision precision() { return precision; }

    /**
     * The fast path's kernels: the Vector API's where {@link #VECTOR} and this instance wants them, else the lanes
     * ({@link #VECTOR} is a constant to the JIT: without the Vector API the vector branch is dropped, its class never
     * loaded).
     */
    private static final class Kernels {
        static float scan(boolean v, float[] src, int off, int[] counts) {
            return VECTOR && v ? Q4_0LatticeVector.scan(src, off, counts) : Q4_0LatticeLanes.scan(src, off, counts);
        }

        static int firstAt(boolean v, float[] src, int off, float amax) {
            return VECTOR && v ? Q4_0LatticeVector.firstAt(src, off, amax) : Q4_0LatticeLanes.firstAt(src, off, amax);
        }

        static void ratios(boolean v, float[] src, int off, float inv, float[] ratio) {
            if (VECTOR && v) Q4_0LatticeVector.ratios(src, off, inv, ratio); else Q4_0LatticeLanes.ratios(src, off, inv, ratio);
        }

        static boolean plausible(boolean v, float[] ratio, int k) {
            return VECTOR && v ? Q4_0LatticeVector.plausible(ratio, k) : Q4_0LatticeLanes.plausible(ratio, k);
        }

        static int verifyBf16(boolean v, float[] x, int xo, float d, float inv, float[] codes) {
            return VECTOR && v ? Q4_0LatticeVector.verifyBf16(x, xo, d, inv, codes) : Q4_0LatticeLanes.verifyBf16(x, xo, d, inv, codes);
        }

        static int intersectBf16(boolean v, float[] x, int xo, int extreme, int k, boolean negative, double[] bounds) {
            return VECTOR && v ? Q4_0LatticeVector.intersectBf16(x, xo, extreme, k, negative, bounds)
                    : Q4_0LatticeLanes.intersectBf16(x, xo, extreme, k, negative, bounds);
        }

        static void squaredErrors(boolean v, float[] x, int xo, float d, float[] w, int wo, double[] terms) {
            if (VECTOR && v) Q4_0LatticeVector.squaredErrors(x, xo, d, w, wo, terms); else Q4_0LatticeLanes.squaredErrors(x, xo, d, w, wo, terms);
        }

        static void packCodes(boolean v, float[] codes, java.lang.foreign.MemorySegment dst, long off) {
            if (VECTOR && v) Q4_0LatticeVector.packCodes(codes, dst, off); else Q4_0LatticeLanes.packCodes(codes, dst, off);
        }
    }

    /**
     * Encodes the row {@code src[off .. off+n)}: each block solved as {@link #solve} solves it, written at
     * {@code dst[dstOff + 18 b]} as block_q4_0 and counted into {@code stats}. See {@link #encodeRows}.
     *
     * @param importance per-column weights of the row for the least-error fallback (may be null), read from
     *     {@code importance[0]} for the row's first column
     */
    public void encodeRow(float[] src, int off, int n, float[] importance, MemorySegment dst, long dstOff, LatticeStats stats) {
        encodeRows(src, off, n, 1, importance, dst, dstOff, stats);
    }

    /**
     * {@link #encodeRow} of {@code rows} consecutive rows of {@code n} weights (their blocks consecutive in {@code dst}
     * too). On the fast path with the Vector API kernels and BF16 storage, {@link Q4_0LatticeVector#solveBatch} takes
     * the blocks a batch at a time, across row boundaries (a block's answer does not depend on the blocks before it),
     * and answers most of them (blocks on lattices of BF16 scales) side by side; the blocks it leaves, and the last
     * blocks short of a batch, go through {@link #solve}. Otherwise every block goes through {@link #solve}.
     */
    public void encodeRows(float[] src, int off, int n, int rows, float[] importance, MemorySegment dst, long dstOff, LatticeStats stats) {
        int perRow = n / QK;
        if (BATCH > 0 && vector && vectorKernels && precision == StoredPrecision.BF16) {
            encodeBatches(src, off, perRow, rows * perRow, importance, dst, dstOff, stats);
            return;
        }
        for (int b = 0; b < rows * perRow; b++) encodeOne(src, off, b, perRow, importance, dst, dstOff, stats);
    }

    /**
     * {@link #encodeRows}' fast path over {@code blocks} blocks (rows of {@code perRow}): batches, then one by one. The
     * blocks solved one by one (few on a checkpoint whose scales were held in BF16) take the solver's plain-Java lanes: the Vector
     * API kernels would need C2 to compile the whole solver a second time, in vector form, before the first tensor
     * (0.3-0.4 s of a compiler thread on 2 cores, while the encoders waited), for the same answers.
     */
    private void encodeBatches(float[] src, int off, int perRow, int blocks, float[] importance, MemorySegment dst, long dstOff,
            LatticeStats stats) {
        vectorKernels = false;
        try {
            int b = 0;
            for (; b + BATCH <= blocks; b += BATCH) {
                long solved = Q4_0LatticeVector.solveBatch(src, off + b * QK, MIN_PLAUSIBLE_EXTREME, batchX, batchWords, batchHalves, batchCodes);
                stats.addBf16Exact(solved, batchCodes);
                for (long m = solved; m != 0; m &= m - 1) {
                    int j = Long.numberOfTrailingZeros(m);
                    long at = dstOff + (long) (b + j) * BLOCK_BYTES;
                    dst.set(LittleEndian.SHORT, at, (short) batchHalves[j]);
                    for (int g = 0; g < QK / 8; g++) dst.set(LittleEndian.INT, at + 2 + 4 * g, batchWords[g * BATCH + j]);
                }
                for (long m = ~solved & BATCH_LANES; m != 0; m &= m - 1) {
                    encodeOne(src, off, b + Long.numberOfTrailingZeros(m), perRow, importance, dst, dstOff, stats);
                }
            }
            for (; b < blocks; b++) encodeOne(src, off, b, perRow, importance, dst, dstOff, stats);
        } finally {
            vectorKernels = true;
        }
    }

    /** Block {@code b} (of rows of {@code perRow}) through {@link #solve}, written and counted. */
    private void encodeOne(float[] src, int off, int b, int perRow, float[] importance, MemorySegment dst, long dstOff, LatticeStats stats) {
        solve(src, off + b * QK, importance, b % perRow * QK);
        writeBlock(dst, dstOff + (long) b * BLOCK_BYTES);
        stats.add(this);
    }

    /**
     * Counts each block of the row {@code x[off .. off+n)} into {@code stats}, solved as the encoders solve them
     * ({@link #encodeRow}): a plan measuring after the lattice's warm-up then runs the code C2 compiled for it.
     */
    public void measureRow(float[] x, int off, int n, LatticeStats stats) {
        long bytes = (long) (n / QK) * BLOCK_BYTES;
        // native memory, as the encoders' chunk buffers are: the writes are then compiled for one kind of segment
        if (sink.byteSize() < bytes) sink = Arena.ofAuto().allocate(bytes);
        encodeRow(x, off, n, null, sink, 0, stats);
    }

    /**
     * Solves the block {@code src[off..off+32)}; returns whether an exact lattice was found. Afterwards the accessors
     * describe the chosen codes and scale (exact or, failing that, least-error).
     *
     * @param importance per-column weights for the least-error fallback (may be null = unweighted); read at
     *     {@code importance[importanceOff + i]}
     */
    public boolean solve(float[] src, int off, float[] importance, int importanceOff) {
        x = src;
        xo = off;
        intervalsReady = false;
        int nonzero = 0, posZeros = 0, negZeros = 0;
        float amax = 0f;
        boolean scanned = false;
        if (vector) {
            // max |x| and zero counts a vector at a time; the extreme is the first element reaching the max
            amax = Kernels.scan(vectorKernels, src, off, zeroCounts);
            int zeros = zeroCounts[0];
            negZeros = zeroCounts[1];
            posZeros = zeros - negZeros;
            nonzero = QK - zeros;
            extreme = -1;
            scanned = nonzero == 0 || Float.isFinite(amax);
            if (nonzero > 0 && scanned) {
                extreme = Kernels.firstAt(vectorKernels, src, off, amax);
                prepareQuickReject(src, off, amax);
            }
            // else a NaN or an infinity: the scan below finds the extreme as the reference does (a NaN is never the
            // largest), which the least-error fallback's scale then follows
        }
        if (!scanned) {
            nonzero = posZeros = negZeros = 0;
            quickReject = false;
            amax = -1f;
            extreme = -1;
            for (int i = 0; i < QK; i++) {
                float v = src[off + i];
                float a = Math.abs(v);
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
            // A NaN or an infinity on the fast path: no lattice holds it (the reference's verification never matches a
            // NaN, and an infinite extreme goes to the fallback), so straight to the fallback, whose scale follows the
            // extreme found above. The vector verification would take NaN bits for a match.
            if (vector) amax = Float.POSITIVE_INFINITY;
        }
        return solveScanned(amax, nonzero, posZeros, negZeros, importance, importanceOff);
    }

    /**
     * {@link #solve} once the block is scanned: its largest magnitude, counts of non-zero values and of either zero, and
     * (for a non-zero block) {@link #extreme} and the quick rejection set up.
     */
    private boolean solveScanned(float amax, int nonzero, int posZeros, int negZeros, float[] importance, int importanceOff) {
        zeroSignMismatches = 0;
        maxAbsError = 0;
        if (nonzero == 0) {
            // Any scale works; its sign decides the sign of 0*d, so follow the stored zeros (majority).
            java.util.Arrays.fill(codes, 0f);
            scale = negZeros > posZeros ? -0.0f : 0.0f;
            zeroSignMismatches = Math.min(negZeros, posZeros);
            rule = LatticeRule.ZERO;
            extremeCode = 0;
            bf16Scale = true;
            exact = true;
            return true;
        }
        if (!Float.isFinite(amax) || extreme < 0) { // extreme < 0: nothing but NaNs and zeros
            return fallback(importance, importanceOff);
        }
        // Stored zeros come from code 0: 0*d carries the sign of d. Bitwise exactness needs d of the zeros' sign.
        boolean hasPreference = (posZeros > 0) != (negZeros > 0);
        preferNegativeScale = negZeros > 0 && posZeros == 0;
        boolean extremeNegative = x[xo + extreme] < 0;
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
                        rule = RULE_OF_EXTREME_CODE[k];
                        return true;
                    }
                }
            }
        }
        return fallback(importance, importanceOff);
    }

    /**
     * The rule a block's extreme code (index 1..8) suggests, see {@link #rule}. A table, not a chain of comparisons:
     * compiled from the warm-up's profile, such a chain had a branch real checkpoints take and the warm-up had not, and
     * its trap compiled the solver again.
     */
    static final LatticeRule[] RULE_OF_EXTREME_CODE = {LatticeRule.ZERO, LatticeRule.LEARNED, LatticeRule.LEARNED,
        LatticeRule.LEARNED, LatticeRule.LEARNED, LatticeRule.LEARNED, LatticeRule.LEARNED, LatticeRule.ABSMAX_OVER_7,
        LatticeRule.SIGNED_MAX_OVER_NEG8};

    /** Extreme element code magnitude {@code k}, scale sign {@code negative}. */
    private boolean tryCandidate(int k, boolean negative) {
        if (quickReject && !plausibleCached(k)) return false;
        candidateNegative = negative;
        float xm = x[xo + extreme];
        // Fast path: the scale is exactly the extreme value over its code (always so for BF16-held scales).
        float q = (xm < 0) == negative ? k : -k;
        float d0 = xm / q;
        // q/xm instead of 1/d0: the two divisions run side by side instead of one after the other. Either is within
        // two ulps of 1/d0, and the verification's result cannot tell them apart (see verifyBf16Vector).
        float inv0 = q / xm;
        // a float with any of its 13 lowest fraction bits set is no F16 value: no conversion needed to rule it out
        // (k = 7, 6, 5, 3: almost always)
        if ((Float.floatToRawIntBits(d0) & 0x1FFF) == 0 && Float16.round(d0) == d0 && verify(d0, inv0)) {
            feasibleLo = feasibleHi = Math.abs(d0);
            bf16Scale = BFloat16.round(d0) == d0 || anyBf16Verifies();
            return true;
        }
        // With a BF16-held scale d, the extreme is round(k*d), so d is xm/k rounded to BF16 or the BF16 neighbour on
        // d0's side of it (|xm/k - d| <= 2^-9 |d|, less than a BF16 step).
        float db = BFloat16.round(d0);
        if (db != d0) {
            if (tryBf16(db, inv0)) return true;
            short bits = BFloat16.fromFloat(db); // sign and magnitude: +1 steps away from zero, -1 towards it
            if (tryBf16(BFloat16.toFloat((short) (Math.abs(d0) > Math.abs(db) ? bits + 1 : bits - 1)), inv0)) return true;
        }
        return trySlow(k, negative);
    }

    /**
     * A BF16 (and F16) value as the scale, within 1.5 BF16 steps of d0: verified exactly. Where {@link #quickReject}
     * holds (BF16 storage, products clear of the subnormals), the verification multiplies by {@code inv0} = q/xm, within
     * a few ulps of 1/d0 and so within 2^-6 of 1/d relative, and needs no division of its own: if any codes c reproduce
     * the block at d, each x = c*d*(1+e) with |e| <= 2^-9, so x*inv0 lies within 8*(2^-9 + 2^-6) < 0.15 of c and rounds
     * to it; the codes are then those of an exact 1/d, and a block the check accepts is exact either way.
     */
    private boolean tryBf16(float d, float inv0) {
        if (d == 0f || Float16.round(d) != d || !verify(d, quickReject ? inv0 : 1f / d)) return false;
        feasibleLo = feasibleHi = Math.abs(d);
        bf16Scale = true;
        return true;
    }

    /** The general search for extreme code {@code k}, when no direct guess of the scale verified. */
    private boolean trySlow(int k, boolean negative) {
        if (vector && precision == StoredPrecision.BF16) {
            int r = intersectBf16Vector(k, negative);
            if (r >= 0) return r == 1;
        }
        ensureIntervals();
        // One pass with the interval the extreme element allows: each element's code is then almost always unique
        // (the interval is ~2^-8 wide, codes are a whole step apart), and each narrows the interval further.
        double dLo = lo[extreme] * RECIP[k], dHi = hi[extreme] * RECIP[k];
        double invLo = 1 / dLo, invHi = 1 / dHi;
        boolean ambiguous = false;
        for (int i = 0; i < QK; i++) {
            if (i == extreme || mag[i] == 0f) continue;
            int cap = (x[xo + i] < 0) == negative ? 7 : 8;
            int kMin = Math.max(1, (int) Math.ceil(lo[i] * invHi * (1 - EPS)));
            int kMax = Math.min(cap, (int) Math.floor(hi[i] * invLo * (1 + EPS)));
            if (kMin > kMax) return false;
            if (kMin < kMax) {
                ambiguous = true;
                continue;
            }
            dLo = Math.max(dLo, lo[i] * RECIP[kMin]);
            dHi = Math.min(dHi, hi[i] * RECIP[kMin]);
            if (dLo > dHi * (1 + EPS)) return false;
        }
        return ambiguous ? search(0, dLo, dHi) : pickF16(dLo, dHi);
    }

    /**
     * The general candidate pass for BF16 storage, vectorized: guess every element's code from the middle of the
     * interval the extreme element allows, intersect the intervals those codes give, and try the F16 scales inside.
     * Returns 1 (solved), 0 (this candidate is impossible) or -1 (a code was ambiguous: let the exact search decide).
     * Interval bounds are computed in float and widened, so nothing is missed; the verification is exact.
     */
    private int intersectBf16Vector(int k, boolean negative) {
        int r = Kernels.intersectBf16(vectorKernels, x, xo, extreme, k, negative, bounds);
        if (r == 0) return 0;
        candidateNegative = negative;
        if (r == 2) {
            ensureIntervals();
            return search(0, bounds[0], bounds[1]) ? 1 : 0;
        }
        return pickF16(bounds[0], bounds[1]) ? 1 : 0;
    }

    /**
     * Sets up {@link #plausible}: the magnitudes relative to the extreme element, |x[i]| / |x[extreme]|. Only for BF16
     * storage and blocks far from the subnormal range, where the bound in {@link #plausible} holds: with |x[extreme]|
     * at least 2^-100, any lattice has |d| >= 2^-104, so every non-zero product q*d is a normal number. (A non-zero
     * value below that cannot be on such a lattice at all, and the exact search rejects it too.) The scalar reference
     * ({@link #useScalarPath}) never takes this shortcut, so the tests compare the two.
     */
    private void prepareQuickReject(float[] src, int off, float amax) {
        quickReject = vector && precision == StoredPrecision.BF16 && amax >= MIN_PLAUSIBLE_EXTREME;
        if (!quickReject) return;
        plausibleKnown = 0;
        float inv = 1f / amax;
        Kernels.ratios(vectorKernels, src, off, inv, ratio);
    }

    /** {@link #plausible}, once per block and k: both signs of a scale ask about the same k. */
    private boolean plausibleCached(int k) {
        int bit = 1 << k;
        if ((plausibleKnown & bit) == 0) {
            plausibleKnown |= bit;
            if (plausible(k)) plausibleOk |= bit; else plausibleOk &= ~bit;
        }
        return (plausibleOk & bit) != 0;
    }

    /**
     * A necessary condition for a lattice whose extreme code has magnitude {@code k}, a few vector operations instead
     * of an exact search. If x[i] = bf16(q[i]*d) for every i and x[extreme] = bf16(k*d), each stored value is within a
     * relative 2^-9 of its product, so t = |x[i]|*k/|x[extreme]| = |q[i]|(1+e)/(1+e') lies within 8*2*2^-9*(1+2^-8)
     * < 0.032 of the integer |q[i]|. A t farther than 1/16 from every integer rules k out; a wrong k leaves some t a
     * multiple of 1/k (>= 1/8) away unless the codes allow it, so nearly every wrong candidate ends here.
     */
    private boolean plausible(int k) {
        return Kernels.plausible(vectorKernels, ratio, k);
    }

    private static final double[] RECIP = {0, 1, 1 / 2.0, 1 / 3.0, 1 / 4.0, 1 / 5.0, 1 / 6.0, 1 / 7.0, 1 / 8.0};

    /** The interval of exact products for every non-zero element; only the general search needs them. */
    private void ensureIntervals() {
        if (intervalsReady) return;
        for (int i = 0; i < QK; i++) {
            float a = Math.abs(x[xo + i]);
            mag[i] = a;
            if (a == 0f) continue;
            precision.interval(a, iv);
            lo[i] = iv[0];
            hi[i] = iv[1];
        }
        intervalsReady = true;
    }

    /** Depth-first over the elements from {@code i}, with |d| in [dLo, dHi]. */
    private boolean search(int i, double dLo, double dHi) {
        for (; i < QK; i++) {
            if (i == extreme || mag[i] == 0f) continue;
            boolean positiveCode = (x[xo + i] < 0) == candidateNegative;
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

    /**
     * Tries the scales in the interval (there are few): BF16 values first, which are F16 values too in F16's normal
     * range and are what training held when the checkpoint's scales were BF16, then every other F16 value.
     */
    private boolean pickF16(double dLo, double dHi) {
        double from = dLo * (1 - EPS), to = dHi * (1 + EPS);
        if (from > 65504) return false;
        feasibleLo = dLo;
        feasibleHi = dHi;
        short b = BFloat16.fromFloat((float) from);
        if (BFloat16.toFloat(b) < from) b++;
        for (int steps = 0; steps < 8; steps++, b++) {
            float f = BFloat16.toFloat(b);
            if (f > to) break;
            if (f == 0f || Float16.round(f) != f) continue;
            if (verify(candidateNegative ? -f : f)) {
                bf16Scale = true;
                return true;
            }
        }
        short h = Float16.fromFloat((float) from);
        while (h > 0 && Float16.toFloat(h) > from) h--;
        for (int steps = 0; steps < 64; steps++, h++) {
            float f = Float16.toFloat(h);
            if (!Float.isFinite(f) || f > to) break;
            if (f < from || f == 0f || BFloat16.round(f) == f) continue; // BF16 values were tried above
            if (verify(candidateNegative ? -f : f)) {
                bf16Scale = false;
                return true;
            }
        }
        return false;
    }

    /** Whether some BF16 value near the fast path's scale also reproduces the block (a BF16-held scale fits). */
    private boolean anyBf16Verifies() {
        float saveScale = scale;
        int saveZeros = zeroSignMismatches;
        System.arraycopy(codes, 0, savedCodes, 0, QK);
        boolean found = false;
        float d = Math.abs(saveScale);
        short b = BFloat16.fromFloat(d);
        for (int dlt = -2; dlt <= 2 && !found; dlt++) {
            float f = BFloat16.toFloat((short) (b + dlt));
            if (f <= 0f || Float16.round(f) != f) continue;
            found = verify(candidateNegative ? -f : f);
        }
        scale = saveScale;
        zeroSignMismatches = saveZeros;
        System.arraycopy(savedCodes, 0, codes, 0, QK);
        return found;
    }

    /** Exact check of a scale: nearest codes, float32 products, rounded to the stored precision, bit for bit. */
    private boolean verify(float d) {
        return verify(d, 1f / d);
    }

    /** {@link #verify} with {@code inv} = 1/d or a value within a few ulps of it. */
    private boolean verify(float d, float inv) {
        return vector && precision == StoredPrecision.BF16 ? verifyBf16Vector(d, inv) : verifyScalar(d);
    }

    private boolean verifyScalar(float d) {
        float inv = 1f / d;
        int zeroMismatch = 0;
        for (int i = 0; i < QK; i++) {
            float v = x[xo + i];
            int q = (int) Math.rint(v * inv);
            q = q < -8 ? -8 : (q > 7 ? 7 : q);
            float p = precision.round((float) q * d);
            if (Float.floatToRawIntBits(p) != Float.floatToRawIntBits(v)) {
                if (p == 0f && v == 0f) zeroMismatch++;
                else return false;
            }
            codes[i] = q;
        }
        scale = d;
        zeroSignMismatches = zeroMismatch;
        return true;
    }

    /**
     * {@link #verify} for BF16 storage, a vector at a time: the hot loop of encoding a QAT checkpoint. The codes are
     * round(x[i] * inv), and any {@code inv} within a few ulps of 1/d gives the same answer: where x[i] is bf16(c*d)
     * for a code c (|c| <= 8), x[i]*inv lies within about 8 * 2^-9 = 2^-6 of c, so it rounds to c either way; and where
     * two such inv could round apart, x[i]*inv is within 2^-18 of a half-way point, so x[i] is about |d|/2 from both
     * codes' products, far outside its BF16 rounding interval (at most 2^-9 |x[i]| <= 2^-5 |d| wide on each side): the
     * check fails either way.
     */
    private boolean verifyBf16Vector(float d, float inv) {
        int r = Kernels.verifyBf16(vectorKernels, x, xo, d, inv, codes);
        // only zeros of the other sign differ: the scalar check counts those (and rewrites every code)
        if (r < 0) return verifyScalar(d);
        if (r == 0) return false;
        scale = d;
        zeroSignMismatches = 0;
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
        float xm = extreme >= 0 ? x[xo + extreme] : 0f;
        // the fast path's error terms a vector at a time, summed in the reference's order (same sums); a NaN takes the
        // reference's loop, whose conversion to a code (0) the vector rounding does not reproduce
        boolean fastErrors = vector;
        for (int i = 0; i < QK && fastErrors; i++) fastErrors = !Float.isNaN(x[xo + i]);
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
                    double e = weightedError(d, importance, importanceOff, fastErrors);
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
                int q = nearestCode(x[xo + i], best);
                double w = importance == null ? 1 : importance[importanceOff + i];
                num += w * x[xo + i] * q;
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
            int q = nearestCode(x[xo + i], best);
            codes[i] = q;
            float p = (float) q * best;
            maxAbsError = Math.max(maxAbsError, Math.abs((double) p - x[xo + i]));
        }
        return false;
    }

    private static int nearestCode(float v, float d) {
        int q = (int) Math.rint(v / d);
        return q < -8 ? -8 : (q > 7 ? 7 : q);
    }

    /** The (importance-)weighted squared error of scale d; {@code fast}: with the kernels, for a block without NaN. */
    private double weightedError(float d, float[] importance, int importanceOff, boolean fast) {
        if (fast) {
            Kernels.squaredErrors(vectorKernels, x, xo, d, importance, importanceOff, errorTerms);
            double e = 0;
            for (int i = 0; i < QK; i++) e += errorTerms[i];
            return e;
        }
        double e = 0;
        for (int i = 0; i < QK; i++) {
            int q = nearestCode(x[xo + i], d);
            double r = (double) x[xo + i] - (double) ((float) q * d);
            e += (importance == null ? 1 : importance[importanceOff + i]) * r * r;
        }
        return e;
    }

    /** Writes the last block as llama.cpp's block_q4_0: fp16 d, then element j | element j+16 << 4 as codes+8. */
    public void writeBlock(MemorySegment dst, long off) {
        if (vector) {
            dst.set(LittleEndian.SHORT, off, Float16.fromFloat(scale));
            Kernels.packCodes(vectorKernels, codes, dst, off + 2);
            return;
        }
        short h = Float16.fromFloat(scale);
        blockBytes[0] = (byte) h;
        blockBytes[1] = (byte) (h >> 8);
        for (int j = 0; j < QK / 2; j++) {
            int lo4 = (int) codes[j] + 8, hi4 = (int) codes[j + QK / 2] + 8;
            blockBytes[2 + j] = (byte) (lo4 | (hi4 << 4));
        }
        MemorySegment.copy(blockBytes, 0, dst, ValueLayout.JAVA_BYTE, off, BLOCK_BYTES);
    }

    /**
     * Selects the scalar code throughout: the reference the vector path is tested against, and what a short job on a
     * cold JVM should use (the JIT compiles plain Java within a few hundred calls; Vector API code is slow until C2
     * has compiled it, after some thousands).
     */
    void useScalarPath() { vector = false; }

    /**
     * The fast path on the plain-Java kernels ({@link Q4_0LatticeLanes}) even where the Vector API is present: for a few
     * thousand blocks on a cold JVM (the plan's sampled fit), where the JIT compiles these within a few hundred calls
     * and Vector API code would still run as boxed Java. Same answers as either other path.
     */
    void useLanes() { vectorKernels = false; }

    /** Whether the fast path uses the Vector API kernels (where {@link #VECTOR}) or the lanes; the answers are the same. */
    void useVectorKernels(boolean v) { vectorKernels = v; }

    public boolean exact() { return exact; }

    /** The chosen scale (an F16 value). */
    public float scale() { return scale; }

    /** Code of element i, in -8..7. */
    public int code(int i) { return (int) codes[i]; }

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
