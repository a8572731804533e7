package dev.requant.converter.qat;

import java.lang.foreign.MemorySegment;
import java.nio.ByteOrder;
import jdk.incubator.vector.ByteVector;
import jdk.incubator.vector.DoubleVector;
import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.IntVector;
import jdk.incubator.vector.VectorMask;
import jdk.incubator.vector.VectorOperators;
import jdk.incubator.vector.VectorShape;
import jdk.incubator.vector.VectorSpecies;

/**
 * {@link Q4_0Lattice}'s Vector API kernels, a block of 32 weights at a time. In a class of its own, loaded only where
 * {@link Q4_0Lattice#VECTOR} says the Vector API is usable: the solver must run (on its scalar path) in a JVM started
 * without the jdk.incubator.vector module, whose types this class's fields and bodies name.
 */
final class Q4_0LatticeVector {
    private Q4_0LatticeVector() {}

    private static final int QK = Q4_0Lattice.QK;
    private static final VectorSpecies<Float> F = FloatVector.SPECIES_PREFERRED;
    /** Bytes, one per float lane: packed nibble pairs of block_q4_0, a vector of them at a time. */
    private static final VectorSpecies<Byte> PACKED = VectorSpecies.of(byte.class, VectorShape.forBitSize(Math.max(64, F.length() * 8)));
    /** 1.5 * 2^23: adding and subtracting it rounds half to even, exact for |t| < 2^22 (here |t| <= 8.5). */
    private static final float RINT_MAGIC = 12582912f;

    /** Vectors of 8 or 16 floats: {@link #packCodes} packs half a block's codes a vector at a time. */
    static boolean supported() { return F.length() >= 8 && F.length() <= QK / 2; }

    /** max |x| of the block {@code src[off..off+32)}; {@code counts[0]}: its zeros of either sign, {@code counts[1]}: its -0s. */
    static float scan(float[] src, int off, int[] counts) {
        FloatVector m = FloatVector.zero(F);
        int zeros = 0, negZeros = 0;
        for (int i = 0; i < QK; i += F.length()) {
            FloatVector v = FloatVector.fromArray(F, src, off + i);
            m = m.max(v.abs());
            IntVector b = v.reinterpretAsInts();
            zeros += b.and(0x7FFFFFFF).compare(VectorOperators.EQ, 0).trueCount();
            negZeros += b.compare(VectorOperators.EQ, 0x80000000).trueCount();
        }
        counts[0] = zeros;
        counts[1] = negZeros;
        return m.reduceLanes(VectorOperators.MAX);
    }

    /** The first element of the block whose magnitude is {@code amax}, or -1. */
    static int firstAt(float[] src, int off, float amax) {
        for (int i = 0; i < QK; i += F.length()) {
            var at = FloatVector.fromArray(F, src, off + i).abs().compare(VectorOperators.EQ, amax);
            if (at.anyTrue()) return i + at.firstTrue();
        }
        return -1;
    }

    /** {@code ratio[i] = |src[off+i]| * inv}. */
    static void ratios(float[] src, int off, float inv, float[] ratio) {
        for (int i = 0; i < QK; i += F.length()) FloatVector.fromArray(F, src, off + i).abs().mul(inv).intoArray(ratio, i);
    }

    /** Whether every {@code ratio[i] * k} lies within 1/16 of an integer (see Q4_0Lattice.plausible). */
    static boolean plausible(float[] ratio, int k) {
        for (int i = 0; i < QK; i += F.length()) {
            FloatVector t = FloatVector.fromArray(F, ratio, i).mul((float) k);
            FloatVector miss = t.sub(t.add(RINT_MAGIC).sub(RINT_MAGIC)).abs();
            if (miss.compare(VectorOperators.GT, 0.0625f).anyTrue()) return false;
        }
        return true;
    }

    /**
     * The exact check of scale {@code d} for BF16 storage: nearest codes (x * {@code invD}, 1/d or within a few ulps of
     * it, see Q4_0Lattice.verifyBf16Vector), float32 products rounded to BF16, bit for bit. Returns 1 when every product
     * reproduces its stored value (the codes are then in {@code codes}), 0 when one does not, -1 when the only
     * differences are zeros of the other sign (the scalar check counts those).
     */
    static int verifyBf16(float[] x, int xo, float d, float invD, float[] codes) {
        FloatVector dv = FloatVector.broadcast(F, d);
        FloatVector inv = FloatVector.broadcast(F, invD);
        for (int i = 0; i < QK; i += F.length()) {
            FloatVector v = FloatVector.fromArray(F, x, xo + i);
            FloatVector q = v.mul(inv).add(RINT_MAGIC).sub(RINT_MAGIC).max(-8f).min(7f);
            FloatVector p = q.mul(dv);
            IntVector u = p.reinterpretAsInts();
            // ggml_compute_fp32_to_bf16 without the NaN branch (products of finite values are finite)
            IntVector rounded = u.add(0x7FFF).add(u.lanewise(VectorOperators.LSHR, 16).and(1)).and(0xFFFF0000);
            IntVector vb = v.reinterpretAsInts();
            var differ = rounded.compare(VectorOperators.NE, vb);
            if (differ.anyTrue()) {
                var bothZero = rounded.or(vb).and(0x7FFFFFFF).compare(VectorOperators.EQ, 0);
                return differ.andNot(bothZero).anyTrue() ? 0 : -1;
            }
            q.intoArray(codes, i);
        }
        return 1;
    }

    /**
     * The general candidate pass for BF16 storage (see Q4_0Lattice.intersectBf16Vector): each element's code guessed
     * from the middle of the interval the extreme element allows, the intervals those codes give intersected. Returns
     * 0 when the candidate is impossible, else the interval of |d| in {@code bounds} and 1, or 2 when some code was
     * ambiguous (the exact search must decide). Bounds computed in float and widened, so nothing is missed.
     */
    static int intersectBf16(float[] x, int xo, int extreme, int k, boolean negative, double[] bounds) {
        float am = Math.abs(x[xo + extreme]);
        int mb = Float.floatToRawIntBits(am) >>> 16;
        int mhalf = (mb & 1) == 0 ? 0x8000 : 0x7FFF;
        float d0Lo = Float.intBitsToFloat((mb << 16) - mhalf) / k;
        float d0Hi = Float.intBitsToFloat((mb << 16) + mhalf) / k;
        float dMid = (d0Lo + d0Hi) * 0.5f;
        // Within the extreme's interval a code is pinned unless |x|/d sits this close to a half-way point.
        float margin = 0.5f - (float) k * (d0Hi - d0Lo) / dMid - 1e-3f;
        FloatVector inv = FloatVector.broadcast(F, 1f / dMid);
        FloatVector lo = FloatVector.broadcast(F, d0Lo);
        FloatVector hi = FloatVector.broadcast(F, d0Hi);
        boolean ambiguous = false;
        for (int i = 0; i < QK; i += F.length()) {
            FloatVector v = FloatVector.fromArray(F, x, xo + i);
            FloatVector a = v.abs();
            var zero = a.compare(VectorOperators.EQ, 0f);
            FloatVector t = a.mul(inv);
            // zero lanes get code 1 and no say in the interval
            FloatVector kv = t.add(RINT_MAGIC).sub(RINT_MAGIC).blend(1f, zero);
            // code magnitude must be 1..cap: 8 where the code is negative (x and d of opposite signs), else 7
            var negCode = negative ? v.compare(VectorOperators.GT, 0f) : v.compare(VectorOperators.LT, 0f);
            FloatVector cap = FloatVector.broadcast(F, 7f).blend(8f, negCode);
            if (kv.compare(VectorOperators.LT, 1f).or(kv.compare(VectorOperators.GT, cap)).anyTrue()) return 0;
            var amb = t.sub(kv).abs().compare(VectorOperators.GT, margin).andNot(zero);
            ambiguous |= amb.anyTrue();
            var skip = zero.or(amb);
            IntVector b = a.reinterpretAsInts().lanewise(VectorOperators.LSHR, 16);
            // ties round to even: an even bf16 owns both half-way points (0x8000), an odd one neither (0x7FFF)
            IntVector half = b.and(1).lanewise(VectorOperators.XOR, 1).add(0x7FFF);
            IntVector top = b.lanewise(VectorOperators.LSHL, 16);
            FloatVector eLo = top.sub(half).reinterpretAsFloats().div(kv);
            FloatVector eHi = top.add(half).reinterpretAsFloats().div(kv);
            lo = lo.max(eLo.blend(0f, skip));
            hi = hi.min(eHi.blend(Float.MAX_VALUE, skip));
        }
        double dLo = lo.reduceLanes(VectorOperators.MAX) * (1 - 1e-6);
        double dHi = hi.reduceLanes(VectorOperators.MIN) * (1 + 1e-6);
        // The codes of unambiguous elements are forced, so an empty interval rules the candidate out either way.
        if (dLo > dHi) return 0;
        bounds[0] = dLo;
        bounds[1] = dHi;
        return ambiguous ? 2 : 1;
    }

    /** Blocks {@link #solveBatch} solves side by side: one per float lane. */
    static int batchBlocks() { return F.length(); }

    private static final VectorSpecies<Integer> I = VectorSpecies.of(int.class, F.vectorShape());
    /**
     * {@link #batchBlocks} consecutive blocks from {@code x[off]}, one per lane, solved as Q4_0Lattice.solve solves each
     * where the answer is a scale held in BF16 that its first candidates find: returns the lanes solved, and for each
     * lane j solved its block_q4_0 (the F16 scale's bits in {@code halves[j]}, the 16 bytes of codes as little-endian
     * words {@code words[j]}, {@code words[L + j]}, {@code words[2L + j]}, {@code words[3L + j]} for L lanes) and its
     * extreme code in {@code extremeCodes[j]}; {@code xt} is scratch of 64 L floats. Every other lane is left to the
     * solver: any block with a NaN, an infinity, a largest magnitude below {@code minExtreme} (zero blocks too), zeros of
     * both signs, and any block whose first plausible extreme code does not verify with its first sign and scales (where
     * the solver goes on to other signs, F16 scales and its interval search).
     *
     * <p>Why the same answer: the solver tries extreme codes from 8 down, each with the scale's sign of the stored zeros
     * (codes below 8 with the extreme's own sign without zeros; -8 only with the opposite one), and within a code the
     * scale xm/q when it is an F16 value, else xm/q rounded to BF16 and then the BF16 neighbour on xm/q's side. Here each
     * lane walks the same order and stops at the first code whose check is not ruled out: a code is skipped only where
     * some |x[i]|*k/|xm| lies more than 1/16 from an integer, which no block on a lattice with that extreme code allows
     * (the bound of Q4_0Lattice.plausible), so the solver finds nothing there either. The codes are round(x*q/xm) and the
     * check rounds each product to BF16 exactly as the solver's verification does. Transposed (lane j holds block j), the
     * work has no horizontal reductions and no branch per block.
     */
    static long solveBatch(float[] x, int off, float minExtreme, float[] xt, int[] words, int[] halves, int[] extremeCodes) {
        int lanes = F.length();
        long all = (1L << lanes) - 1;
        FloatVector amax = FloatVector.zero(F), xm = FloatVector.zero(F);
        VectorMask<Integer> posZero = I.maskAll(false), negZero = I.maskAll(false);
        // transposed by plain copies: the Vector API's gather (a load with an index map) was not compiled to one here,
        // and without it the vectors downstream lost their exact types and ran as Java; a transpose of L-by-L tiles by
        // two-vector permutes (selectFrom) was no faster than the copies
        for (int j = 0; j < lanes; j++) {
            for (int i = 0; i < QK; i++) xt[i * lanes + j] = x[off + j * QK + i];
        }
        for (int i = 0; i < QK; i++) {
            FloatVector v = FloatVector.fromArray(F, xt, i * lanes);
            FloatVector a = v.abs();
            // strictly larger: the first element of the largest magnitude is the extreme, as the solver's scan finds it
            xm = xm.blend(v, a.compare(VectorOperators.GT, amax));
            amax = amax.max(a); // a NaN anywhere makes it NaN (Math.max), which the finiteness test below sets aside
            IntVector b = v.reinterpretAsInts();
            posZero = posZero.or(b.compare(VectorOperators.EQ, 0));
            negZero = negZero.or(b.compare(VectorOperators.EQ, 0x80000000));
        }
        long pos = posZero.toLong(), neg = negZero.toLong();
        long left = ~amax.compare(VectorOperators.LT, Float.POSITIVE_INFINITY).toLong()
                | amax.compare(VectorOperators.LT, minExtreme).toLong() | (pos & neg);
        long extNeg = xm.compare(VectorOperators.LT, 0f).toLong();
        long pref = pos ^ neg;
        // the scale's sign tried first below 8: the zeros' (negative where only -0 occurs), else the extreme's
        long firstNeg = (pref & neg) | (~pref & extNeg);
        // -8 takes a scale of the extreme's opposite sign; with zeros, only where that is their sign
        long eightOk = ~pref | ~(neg ^ ~extNeg);
        // each lane's first extreme code in the solver's order that its ratios allow: Q4_0Lattice.plausible's test on the
        // same ratios |x|/amax (so the same decisions), a pass over the batch per code until every lane has one
        FloatVector inv = FloatVector.broadcast(F, 1f).div(amax);
        for (int i = 0; i < QK; i++) FloatVector.fromArray(F, xt, i * lanes).abs().mul(inv).intoArray(xt, (QK + i) * lanes);
        long undecided = all & ~left;
        IntVector kLane = IntVector.zero(I);
        for (int k = 8; k >= 1 && undecided != 0; k--) {
            // no test for an empty set here: the warm-up's batches never have one at 8, and C2 compiled that branch as a
            // trap that a real batch (every extreme positive, the scales too) then took
            long tried = k == 8 ? undecided & eightOk : undecided;
            VectorMask<Float> far = F.maskAll(false);
            for (int i = 0; i < QK; i++) {
                FloatVector t = FloatVector.fromArray(F, xt, (QK + i) * lanes).mul((float) k);
                far = far.or(t.sub(t.add(RINT_MAGIC).sub(RINT_MAGIC)).abs().compare(VectorOperators.GT, 0.0625f));
            }
            long found = tried & ~far.toLong();
            kLane = kLane.blend(k, VectorMask.fromLong(I, found));
            undecided &= ~found;
        }
        long candidates = all & ~left & ~undecided;
        // one verification of every lane's code with its first sign and scales
        long eight = kLane.compare(VectorOperators.EQ, 8).toLong();
        long negative = (eight & ~extNeg) | (~eight & firstNeg);
        FloatVector kf = (FloatVector) kLane.convert(VectorOperators.I2F, 0);
        // code +k where the scale has the extreme's sign, -k where not
        FloatVector q = kf.blend(kf.neg(), VectorMask.fromLong(F, negative ^ extNeg));
        FloatVector d0 = xm.div(q), inv0 = q.div(xm);
        IntVector d0b = d0.reinterpretAsInts();
        // ggml_compute_fp32_to_bf16 of finite values, as in verifyBf16 (written out in each place: a helper that C2
        // did not inline took its vectors boxed, and their lane operations ran as Java)
        IntVector dbb = d0b.add(0x7FFF).add(d0b.lanewise(VectorOperators.LSHR, 16).and(1)).and(0xFFFF0000);
        FloatVector db = dbb.reinterpretAsFloats();
        // xm/q itself where it has no fraction bit beyond F16's (it must then be a BF16 value here), else its BF16
        // rounding and that one's neighbour on xm/q's side
        long d0Short = d0b.and(0x1FFF).compare(VectorOperators.EQ, 0).toLong();
        long d0Bf16 = d0b.and(0xFFFF).compare(VectorOperators.EQ, 0).toLong();
        IntVector step = IntVector.broadcast(I, -0x10000).blend(0x10000, d0.abs().compare(VectorOperators.GT, db.abs()).cast(I));
        FloatVector dA = db.blend(d0, VectorMask.fromLong(F, d0Short));
        FloatVector dB = dbb.add(step).reinterpretAsFloats();
        // scales in F16's normal range, 2^-14 to below 2^16 by the exponent field (BF16 values there are F16 values)
        IntVector eA = dA.reinterpretAsInts().lanewise(VectorOperators.LSHR, 23).and(0xFF);
        IntVector eB = dB.reinterpretAsInts().lanewise(VectorOperators.LSHR, 23).and(0xFF);
        long usableA = eA.compare(VectorOperators.GE, 127 - 14).and(eA.compare(VectorOperators.LE, 127 + 15)).toLong() & (~d0Short | d0Bf16);
        long usableB = eB.compare(VectorOperators.GE, 127 - 14).and(eB.compare(VectorOperators.LE, 127 + 15)).toLong() & ~d0Short;
        VectorMask<Integer> diffA = I.maskAll(false), diffB = I.maskAll(false);
        for (int i = 0; i < QK; i++) {
            FloatVector v = FloatVector.fromArray(F, xt, i * lanes);
            FloatVector c = v.mul(inv0).add(RINT_MAGIC).sub(RINT_MAGIC).max(-8f).min(7f);
            c.intoArray(xt, (QK + i) * lanes); // over the ratios, no longer needed: the codes the words below pack
            IntVector vb = v.reinterpretAsInts();
            IntVector pA = c.mul(dA).reinterpretAsInts(), pB = c.mul(dB).reinterpretAsInts();
            diffA = diffA.or(pA.add(0x7FFF).add(pA.lanewise(VectorOperators.LSHR, 16).and(1)).and(0xFFFF0000).compare(VectorOperators.NE, vb));
            diffB = diffB.or(pB.add(0x7FFF).add(pB.lanewise(VectorOperators.LSHR, 16).and(1)).and(0xFFFF0000).compare(VectorOperators.NE, vb));
        }
        long okA = usableA & ~diffA.toLong();
        // a plausible code that did not verify here: the solver decides (other signs, scales, its search)
        long solved = candidates & (okA | (usableA & usableB & ~diffB.toLong()));
        FloatVector dSolved = dA.blend(dB, VectorMask.fromLong(F, solved & ~okA));
        // block_q4_0's 16 bytes of nibbles as 4 little-endian words a lane: byte t = code[t] + 8 | (code[t + 16] + 8) << 4
        for (int g = 0; g < QK / 8; g++) {
            IntVector w = IntVector.zero(I);
            for (int t = 4 * g; t < 4 * g + 4; t++) {
                FloatVector lo = FloatVector.fromArray(F, xt, (QK + t) * lanes);
                FloatVector hi = FloatVector.fromArray(F, xt, (QK + t + QK / 2) * lanes);
                IntVector b = (IntVector) hi.mul(16f).add(lo).add(136f).convert(VectorOperators.F2I, 0);
                w = w.or(b.lanewise(VectorOperators.LSHL, 8 * (t - 4 * g)));
            }
            w.intoArray(words, g * lanes);
        }
        // the F16 bits of a BF16 value in F16's normal range: sign, exponent rebiased from 127 to 15, top 10 fraction bits
        IntVector sb = dSolved.reinterpretAsInts();
        sb.lanewise(VectorOperators.LSHR, 16).and(0x8000)
                .or(sb.lanewise(VectorOperators.LSHR, 13).sub((127 - 15) << 10).and(0x7FFF)).intoArray(halves, 0);
        kLane.intoArray(extremeCodes, 0);
        return solved;
    }

    private static final VectorSpecies<Double> D = VectorSpecies.of(double.class, F.vectorShape());

    /**
     * The least-error fallback's terms for scale {@code d}: {@code terms[i] = (w[wo+i] * r) * r} (w = 1 without an
     * importance) with r = x[i] - q*d in double, q the nearest code clamped to -8..7 from the float quotient x[i]/d,
     * each term exactly as Q4_0Lattice.weightedError computes it (its caller adds them in the same order). For blocks
     * without NaN: rounding by 1.5 * 2^23 is Math.rint below 2^22, and larger quotients (or infinite ones) clamp the same.
     */
    static void squaredErrors(float[] x, int xo, float d, float[] w, int wo, double[] terms) {
        int lanes = F.length(), half = D.length();
        for (int i = 0; i < QK; i += lanes) {
            FloatVector v = FloatVector.fromArray(F, x, xo + i);
            FloatVector q = v.div(d).add(RINT_MAGIC).sub(RINT_MAGIC).max(-8f).min(7f);
            FloatVector p = q.mul(d);
            for (int part = 0; part < 2; part++) {
                DoubleVector r = ((DoubleVector) v.convertShape(VectorOperators.F2D, D, part))
                        .sub((DoubleVector) p.convertShape(VectorOperators.F2D, D, part));
                DoubleVector t = w == null ? r.mul(r)
                        : ((DoubleVector) FloatVector.fromArray(F, w, wo + i).convertShape(VectorOperators.F2D, D, part)).mul(r).mul(r);
                t.intoArray(terms, i + part * half);
            }
        }
    }

    /** The 16 bytes of block_q4_0's nibbles at {@code off}: element j | element j+16 << 4, as codes+8. */
    static void packCodes(float[] codes, MemorySegment dst, long off) {
        for (int j = 0; j < QK / 2; j += F.length()) {
            // (lo + 8) + 16 (hi + 8): exact in float, below 256
            FloatVector lo = FloatVector.fromArray(F, codes, j);
            FloatVector hi = FloatVector.fromArray(F, codes, QK / 2 + j);
            FloatVector packed = hi.mul(16f).add(lo).add(136f);
            ((ByteVector) packed.convert(VectorOperators.F2I, 0).convertShape(VectorOperators.I2B, PACKED, 0))
                    .intoMemorySegment(dst, off + j, ByteOrder.LITTLE_ENDIAN);
        }
    }
}
