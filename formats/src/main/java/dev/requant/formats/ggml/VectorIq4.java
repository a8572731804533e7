package dev.requant.formats.ggml;

import dev.requant.formats.io.LittleEndian;
import java.lang.foreign.MemorySegment;
import jdk.incubator.vector.ByteVector;
import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.IntVector;
import jdk.incubator.vector.VectorMask;
import jdk.incubator.vector.VectorOperators;
import jdk.incubator.vector.VectorSpecies;

/**
 * The IQ4_NL and IQ4_XS encoders (quantize_row_iq4_nl_impl with ntry 7) with the scale search of one 32-element
 * block per vector lane, and the final codes of a block a vector at a time. best_index_int8 becomes a branch-free
 * scan: for x strictly inside the grid, the binary search ends at mu = the number of levels <= x, and the answer is
 * mu-1 when {@code x - level[mu-1] < level[mu] - x}, computed with the same two float subtractions; the ends (x at or
 * beyond the outer levels, NaN) are handled as its early returns handle them. Each lane runs the scalar sequence of
 * binary32 operations of {@link IQ4_NLCodec#encodeSuperBlock}, so the bytes are the scalar reference's. Rows holding
 * NaN or Inf (in x or the importance) go to the scalar reference whole.
 */
final class VectorIq4 {
    private VectorIq4() {}

    private static final VectorSpecies<Float> F = FloatVector.SPECIES_PREFERRED;
    private static final VectorSpecies<Integer> I = IntVector.SPECIES_PREFERRED;
    private static final int V = F.length();
    private static final int G = 32;
    private static final VectorSpecies<Byte> B = V == 16 ? ByteVector.SPECIES_128 : ByteVector.SPECIES_64;
    private static final float[] LEVELS = new float[16];

    static {
        for (int k = 0; k < 16; k++) LEVELS[k] = IQ4_NLCodec.KVALUES[k];
    }

    static boolean supported() {
        return F.length() == I.length() && (V == 8 || V == 16);
    }

    private static final class Scratch {
        final float[] xt = new float[G * V], wt = new float[G * V], d = new float[V];
        final int[] idx = new int[G];
        final byte[] blk = new byte[IQ4_XSCodec.BLOCK_BYTES];
        float[] w = new float[0], scales = new float[0];

        void ensure(int n) {
            if (w.length >= n) return;
            w = new float[n];
            scales = new float[n / G];
        }
    }

    private static final ThreadLocal<Scratch> SCRATCH = ThreadLocal.withInitial(Scratch::new);

    /**
     * quantize_iq4_nl (superBlockSize 32) or quantize_iq4_xs (256) of one row; qw may be null. False (nothing written)
     * for a row with NaN or Inf.
     */
    static boolean encodeRow(int superBlockSize, float[] x, int xo, int n, float[] qw, MemorySegment dst, long dstOffset) {
        if (!FiniteCheck.allFinite(x, xo, xo + n) || (qw != null && !FiniteCheck.allFinite(qw, 0, n))) return false;
        Scratch s = SCRATCH.get();
        s.ensure(n);
        float[] w = s.w;
        for (int sb = 0; sb < n; sb += superBlockSize) {
            float sigma2 = 0;
            for (int j = 0; j < superBlockSize; ++j) sigma2 += x[xo + sb + j] * x[xo + sb + j];
            sigma2 *= 2.f / superBlockSize;
            if (qw != null) ImportanceWeights.sigmaWeights(x, xo + sb, qw, sb, sigma2, w, sb, superBlockSize);
            else for (int j = 0; j < superBlockSize; ++j) w[sb + j] = x[xo + sb + j] * x[xo + sb + j];
        }
        int blocks = n / G;
        for (int b0 = 0; b0 < blocks; b0 += V) {
            int used = Math.min(V, blocks - b0);
            for (int lane = 0; lane < V; lane++) {
                int b = b0 + (lane < used ? lane : 0);
                for (int j = 0; j < G; j++) {
                    s.xt[j * V + lane] = x[xo + b * G + j];
                    s.wt[j * V + lane] = w[b * G + j];
                }
            }
            searchScales(s);
            System.arraycopy(s.d, 0, s.scales, b0, used);
        }
        byte[] blk = s.blk;
        int blockBytes = superBlockSize == G ? IQ4_NLCodec.BLOCK_BYTES : IQ4_XSCodec.BLOCK_BYTES;
        for (int sb = 0; sb < n / superBlockSize; sb++) {
            if (superBlockSize == G) finishNl(x, xo + sb * G, s.scales[sb], blk, s.idx);
            else finishXs(x, xo + sb * superBlockSize, s.scales, sb * 8, blk, s.idx);
            MemorySegment.copy(blk, 0, dst, LittleEndian.BYTE, dstOffset + (long) sb * blockBytes, blockBytes);
        }
        return true;
    }

    /** IQ4_NL's end: d = fp16(scale), codes best_index(x / scale) (0 for a zero scale: all level 8). */
    private static void finishNl(float[] x, int xo, float scale, byte[] blk, int[] idx) {
        Q4_KCodec.putShort(blk, 0, Float16.fromFloat(scale));
        float id = scale != 0 ? 1 / scale : 0;
        indices(x, xo, id, idx);
        pack(idx, blk, 2);
    }

    /** IQ4_XS's end: the 6-bit block scales against d = -max_scale/32, and the codes of each block with its scale. */
    private static void finishXs(float[] x, int xo, float[] scales, int so, byte[] blk, int[] idx) {
        float maxScale = 0, amaxScale = 0;
        for (int ib = 0; ib < 8; ++ib) {
            float absD = Math.abs(scales[so + ib]);
            if (absD > amaxScale) {
                amaxScale = absD;
                maxScale = scales[so + ib];
            }
        }
        float d = -maxScale / 32;
        Q4_KCodec.putShort(blk, 0, Float16.fromFloat(d));
        float id = d != 0 ? 1 / d : 0.f;
        int scalesH = 0;
        for (int ib = 0; ib < 8; ++ib) {
            int l = Rounding.nearestInt(id * scales[so + ib]);
            l = Math.max(-32, Math.min(31, l));
            float dl = d * l;
            float idl = dl != 0 ? 1 / dl : 0.f;
            indices(x, xo + ib * G, idl, idx);
            pack(idx, blk, 8 + 16 * ib);
            l += 32;
            if (ib % 2 == 0) blk[4 + ib / 2] = (byte) (l & 0xF);
            else blk[4 + ib / 2] |= (byte) ((l & 0xF) << 4);
            scalesH |= (l >> 4) << (2 * ib);
        }
        Q4_KCodec.putShort(blk, 2, (short) scalesH);
    }

    /** best_index_int8 of {@code id * x} for the 32 elements at x[xo]. */
    private static void indices(float[] x, int xo, float id, int[] idx) {
        for (int j = 0; j < G; j += V) {
            FloatVector al = FloatVector.fromArray(F, x, xo + j).mul(id);
            FloatVector lo = FloatVector.broadcast(F, LEVELS[0]), hi = FloatVector.broadcast(F, LEVELS[1]);
            IntVector mu = IntVector.broadcast(I, 1);
            for (int k = 1; k < 15; k++) {
                VectorMask<Float> ge = al.compare(VectorOperators.GE, LEVELS[k]);
                lo = lo.blend(LEVELS[k], ge);
                hi = hi.blend(LEVELS[k + 1], ge);
                mu = mu.add(1, ge.cast(I));
            }
            mu = mu.sub(1, al.sub(lo).compare(VectorOperators.LT, hi.sub(al)).cast(I));
            mu = mu.blend(0, al.compare(VectorOperators.LE, LEVELS[0]).cast(I));
            mu = mu.blend(15, al.compare(VectorOperators.GE, LEVELS[15]).or(al.test(VectorOperators.IS_NAN)).cast(I));
            mu.intoArray(idx, j);
        }
    }

    /** q4[16i + j] = L[32i + j] | L[32i + 16 + j] << 4 for one block of 32 codes. */
    private static void pack(int[] idx, byte[] blk, int qo) {
        for (int j = 0; j < 16; j += V) {
            IntVector lo = IntVector.fromArray(I, idx, j), hi = IntVector.fromArray(I, idx, 16 + j);
            ((ByteVector) lo.or(hi.lanewise(VectorOperators.LSHL, 4)).convertShape(VectorOperators.I2B, B, 0)).intoArray(blk, qo + j);
        }
    }

    /**
     * The level best_index_int8 picks for each lane of x (x finite here; the early returns for the ends kept): the
     * nearest of the two levels around x, the upper one on a tie.
     */
    private static FloatVector nearestLevel(FloatVector x) {
        FloatVector lo = FloatVector.broadcast(F, LEVELS[0]), hi = FloatVector.broadcast(F, LEVELS[1]);
        for (int k = 1; k < 15; k++) {
            VectorMask<Float> ge = x.compare(VectorOperators.GE, LEVELS[k]);
            lo = lo.blend(LEVELS[k], ge);
            hi = hi.blend(LEVELS[k + 1], ge);
        }
        FloatVector q = hi.blend(lo, x.sub(lo).compare(VectorOperators.LT, hi.sub(x)));
        q = q.blend(LEVELS[0], x.compare(VectorOperators.LE, LEVELS[0]));
        return q.blend(LEVELS[15], x.compare(VectorOperators.GE, LEVELS[15]));
    }

    /**
     * The scale search of quantize_row_iq4_nl_impl for V blocks of 32 from {@code s.xt}/{@code s.wt}: the best d
     * of the first guess -max/-127 and the 15 trial scales (itry - 127)/max, per lane into {@code s.d} (0 for an
     * all-zero block).
     */
    private static void searchScales(Scratch s) {
        float[] xt = s.xt, wt = s.wt;
        FloatVector amax = FloatVector.zero(F), max = FloatVector.zero(F);
        for (int j = 0; j < G; j++) {
            FloatVector xv = FloatVector.fromArray(F, xt, j * V);
            FloatVector ax = xv.abs();
            VectorMask<Float> bigger = ax.compare(VectorOperators.GT, amax);
            amax = amax.blend(ax, bigger);
            max = max.blend(xv, bigger);
        }
        VectorMask<Float> zero = amax.compare(VectorOperators.LT, QuantFit.GROUP_MAX_EPS);
        FloatVector d = max.neg().div(LEVELS[0]);
        FloatVector id = FloatVector.broadcast(F, 1f).div(d);
        FloatVector sumqx = FloatVector.zero(F), sumq2 = FloatVector.zero(F);
        for (int j = 0; j < G; j++) {
            FloatVector xv = FloatVector.fromArray(F, xt, j * V);
            FloatVector q = nearestLevel(id.mul(xv));
            FloatVector wq = FloatVector.fromArray(F, wt, j * V).mul(q);
            sumqx = sumqx.add(wq.mul(xv));
            sumq2 = sumq2.add(wq.mul(q));
        }
        d = sumqx.div(sumq2).blend(0f, sumq2.compare(VectorOperators.GT, 0f).not());
        FloatVector best = d.mul(sumqx);
        for (int itry = -IQ4_NLCodec.NTRY; itry <= IQ4_NLCodec.NTRY; ++itry) {
            id = FloatVector.broadcast(F, (float) (itry + IQ4_NLCodec.KVALUES[0])).div(max);
            FloatVector tqx = FloatVector.zero(F), tq2 = FloatVector.zero(F);
            for (int j = 0; j < G; j++) {
                FloatVector xv = FloatVector.fromArray(F, xt, j * V);
                FloatVector q = nearestLevel(id.mul(xv));
                FloatVector wq = FloatVector.fromArray(F, wt, j * V).mul(q);
                tqx = tqx.add(wq.mul(xv));
                tq2 = tq2.add(wq.mul(q));
            }
            VectorMask<Float> better = tq2.compare(VectorOperators.GT, 0f).and(tqx.mul(tqx).compare(VectorOperators.GT, best.mul(tq2)));
            FloatVector nd = tqx.div(tq2);
            d = d.blend(nd, better);
            best = best.blend(nd.mul(tqx), better);
        }
        d.blend(0f, zero).intoArray(s.d, 0);
    }
}
