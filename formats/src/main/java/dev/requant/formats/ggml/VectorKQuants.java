package dev.requant.formats.ggml;

import dev.requant.formats.io.LittleEndian;
import java.lang.foreign.MemorySegment;
import java.util.Arrays;
import jdk.incubator.vector.ByteVector;
import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.IntVector;
import jdk.incubator.vector.VectorMask;
import jdk.incubator.vector.VectorOperators;
import jdk.incubator.vector.VectorSpecies;

/**
 * The Q2_K, Q3_K and Q6_K encoders with one 16-element sub-block per vector lane: the sub-block fits (make_qkx2_quants,
 * make_qkx3_quants, make_q3_quants, make_qx_quants), where nearly all the time goes, run V sub-blocks side by side,
 * each lane doing exactly the scalar sequence of binary32 operations of {@link QuantFit} for its sub-block (sums in
 * index order, the same divisions, nearest_int by the same bit trick, branches as masks); the per-super-block rest
 * (scale quantization, re-quantization, packing) is the scalar codecs' own code. So the bytes are the scalar
 * reference's. Rows holding NaN or Inf (in x or the importance) go to the scalar reference whole: NaN payloads are
 * the one thing lanes and scalar code could propagate differently.
 */
final class VectorKQuants {
    private VectorKQuants() {}

    private static final VectorSpecies<Float> F = FloatVector.SPECIES_PREFERRED;
    private static final VectorSpecies<Integer> I = IntVector.SPECIES_PREFERRED;
    private static final int V = F.length();
    private static final int G = 16;
    private static final int QK_K = 256;
    private static final VectorSpecies<Byte> B = V == 16 ? ByteVector.SPECIES_128 : ByteVector.SPECIES_64;

    static boolean supported() {
        return F.length() == I.length() && (V == 8 || V == 16);
    }

    /** Per-thread scratch: transposed groups and row-sized results, grown as rows need. */
    private static final class Scratch {
        // room for groups of 32 (Q4_K, Q5_K); the 16-element encoders use the first half
        final float[] xt = new float[2 * G * V], wt = new float[2 * G * V], wxt = new float[G * V], lt = new float[2 * G * V];
        final float[] xt2 = new float[G * V], lt2 = new float[G * V];
        final float[] a = new float[V], b = new float[V], c = new float[V], d = new float[V];
        final byte[] blk = new byte[Q3_KCodec.BLOCK_BYTES], Ls = new byte[16], Lm = new byte[16];
        final byte[] blk6 = new byte[Q6_KCodec.BLOCK_BYTES], blk45 = new byte[Q5_KCodec.BLOCK_BYTES];
        final float[] w32 = new float[32];
        float[] w = new float[0], scales = new float[0], mins = new float[0], sw = new float[0];
        byte[] L = new byte[0];

        void ensure(int n) {
            if (L.length >= n) return;
            w = new float[n];
            L = new byte[n];
            scales = new float[n / G];
            mins = new float[n / G];
            sw = new float[n / G];
        }
    }

    private static final ThreadLocal<Scratch> SCRATCH = ThreadLocal.withInitial(Scratch::new);

    private static boolean finite(float[] x, int xo, int n, float[] qw) {
        return FiniteCheck.allFinite(x, xo, xo + n) && (qw == null || FiniteCheck.allFinite(qw, 0, n));
    }

    /** Copies group {@code g} (16 values of {@code src} from {@code so + 16g}) into lane {@code lane} of {@code t}. */
    private static void transpose(float[] src, int so, int g, int lane, float[] t) {
        int o = so + g * G;
        for (int j = 0; j < G; j++) t[j * V + lane] = src[o + j];
    }

    // ---- Q2_K ----

    /** quantize_row_q2_K_ref (qw == null) or quantize_row_q2_K_impl of one row; false (nothing written) for a row with NaN or Inf. */
    static boolean encodeQ2_K(float[] x, int xo, int n, float[] qw, MemorySegment dst, long dstOffset) {
        if (!finite(x, xo, n, qw)) return false;
        Scratch s = SCRATCH.get();
        s.ensure(n);
        float[] w = s.w;
        int groups = n / G;
        if (qw == null) {
            for (int i = 0; i < n; i++) w[i] = Math.abs(x[xo + i]);
        } else {
            for (int i = 0; i < n / QK_K; i++) {
                float sigma2 = ImportanceWeights.rowSigma2(x, xo + i * QK_K, QK_K);
                ImportanceWeights.sigmaWeights(x, xo + i * QK_K, qw, i * QK_K, sigma2, w, i * QK_K, QK_K);
            }
            for (int g = 0; g < groups; g++) s.sw[g] = Q2_KCodec.sum16(w, g * G);
        }
        for (int g0 = 0; g0 < groups; g0 += V) {
            int used = Math.min(V, groups - g0);
            for (int lane = 0; lane < V; lane++) {
                int g = g0 + (lane < used ? lane : 0);
                transpose(x, xo, g, lane, s.xt);
                transpose(w, 0, g, lane, s.wt);
            }
            if (qw == null) fitQkx(G, false, 3, -0.5f, 0.1f, 15, true, s);
            else fitQkx(G, true, 3, -0.9f, 0.05f, 36, false, s);
            for (int lane = 0; lane < used; lane++) {
                int g = g0 + lane;
                s.scales[g] = s.a[lane];
                s.mins[g] = s.b[lane];
                codesQkx(G, x, xo + g * G, 3, s.c[lane], s.d[lane], s.L, g * G);
            }
        }
        byte[] blk = s.blk;
        for (int i = 0; i < n / QK_K; i++) {
            Arrays.fill(blk, 0, Q2_KCodec.BLOCK_BYTES, (byte) 0);
            if (qw == null) Q2_KCodec.scalesRef(s.scales, i * 16, s.mins, i * 16, blk);
            else Q2_KCodec.scalesWeighted(s.scales, i * 16, s.mins, i * 16, s.sw, i * 16, blk, s.Ls, s.Lm);
            Q2_KCodec.finish(x, xo + i * QK_K, s.L, i * QK_K, blk);
            MemorySegment.copy(blk, 0, dst, LittleEndian.BYTE, dstOffset + (long) i * Q2_KCodec.BLOCK_BYTES, Q2_KCodec.BLOCK_BYTES);
        }
        return true;
    }

    /**
     * The codes make_qkx2/3_quants kept: clamp(nearest_int(iscale * (x - min)), 0, nmax) with the lane's kept iscale
     * and the min it was computed with; all zero for a degenerate group (iscale NaN).
     */
    private static void codesQkx(int g, float[] x, int xo, int nmax, float iscale, float min, byte[] L, int lo) {
        if (Float.isNaN(iscale)) {
            Arrays.fill(L, lo, lo + g, (byte) 0);
            return;
        }
        for (int i = 0; i < g; i++) {
            int l = Rounding.nearestInt(iscale * (x[xo + i] - min));
            L[lo + i] = (byte) Math.max(0, Math.min(nmax, l));
        }
    }

    /**
     * make_qkx2_quants (v3 false) or make_qkx3_quants (v3 true) of V groups of g (16 or 32) with weights, from {@code s.xt} and
     * {@code s.wt}: per lane the scale into {@code s.a}, the_min into {@code s.b}, and into {@code s.c}/{@code s.d} the
     * inverse scale and min whose codes were kept (NaN inverse scale for a degenerate group).
     */
    private static void fitQkx(int g, boolean v3, int nmax, float rmin, float rdelta, int nstep, boolean useMad, Scratch s) {
        float[] xt = s.xt, wt = s.wt, lt = s.lt;
        FloatVector magic = FloatVector.broadcast(F, 12582912.0f);
        FloatVector x0 = FloatVector.fromArray(F, xt, 0);
        FloatVector min = x0, max = x0;
        FloatVector sumW = FloatVector.fromArray(F, wt, 0);
        FloatVector sumX = sumW.mul(x0);
        for (int i = 1; i < g; i++) {
            FloatVector xv = FloatVector.fromArray(F, xt, i * V);
            FloatVector wv = FloatVector.fromArray(F, wt, i * V);
            min = min.blend(xv, xv.compare(VectorOperators.LT, min));
            max = max.blend(xv, xv.compare(VectorOperators.GT, max));
            sumW = sumW.add(wv);
            sumX = sumX.add(wv.mul(xv));
        }
        min = min.blend(0f, min.compare(VectorOperators.GT, 0f));
        VectorMask<Float> degenerate = v3 ? max.compare(VectorOperators.LE, min) : max.compare(VectorOperators.EQ, min);
        FloatVector theMinDegenerate = min.neg();
        FloatVector iscale = FloatVector.broadcast(F, (float) nmax).div(max.sub(min));
        FloatVector scale = FloatVector.broadcast(F, 1f).div(iscale);
        FloatVector bestError = FloatVector.zero(F);
        for (int i = 0; i < g; i++) {
            FloatVector xv = FloatVector.fromArray(F, xt, i * V);
            IntVector l = iscale.mul(xv.sub(min)).add(magic).reinterpretAsInts().and(0x007FFFFF).sub(0x00400000).max(0).min(nmax);
            FloatVector lf = (FloatVector) l.convert(VectorOperators.I2F, 0);
            FloatVector diff = scale.mul(lf).add(min).sub(xv);
            diff = useMad ? diff.abs() : diff.mul(diff);
            bestError = bestError.add(FloatVector.fromArray(F, wt, i * V).mul(diff));
        }
        FloatVector keepIscale = iscale, keepMin = min;
        for (int is = 0; is <= nstep; ++is) {
            FloatVector isc = FloatVector.broadcast(F, rmin + rdelta * is + nmax).div(max.sub(min));
            FloatVector sumL = FloatVector.zero(F), sumL2 = FloatVector.zero(F), sumXl = FloatVector.zero(F);
            for (int i = 0; i < g; i++) {
                FloatVector xv = FloatVector.fromArray(F, xt, i * V);
                IntVector l = isc.mul(xv.sub(min)).add(magic).reinterpretAsInts().and(0x007FFFFF).sub(0x00400000).max(0).min(nmax);
                FloatVector lf = (FloatVector) l.convert(VectorOperators.I2F, 0);
                lf.intoArray(lt, i * V);
                FloatVector wl = FloatVector.fromArray(F, wt, i * V).mul(lf);
                sumL = sumL.add(wl);
                sumL2 = sumL2.add(wl.mul(lf));
                sumXl = sumXl.add(wl.mul(xv));
            }
            FloatVector D = sumW.mul(sumL2).sub(sumL.mul(sumL));
            FloatVector thisScale = sumW.mul(sumXl).sub(sumX.mul(sumL)).div(D);
            FloatVector thisMin = sumL2.mul(sumX).sub(sumL.mul(sumXl)).div(D);
            VectorMask<Float> positive = thisMin.compare(VectorOperators.GT, 0f);
            thisMin = thisMin.blend(0f, positive);
            thisScale = thisScale.blend(sumXl.div(sumL2), positive);
            FloatVector curError = FloatVector.zero(F);
            for (int i = 0; i < g; i++) {
                FloatVector xv = FloatVector.fromArray(F, xt, i * V);
                FloatVector diff = thisScale.mul(FloatVector.fromArray(F, lt, i * V)).add(thisMin).sub(xv);
                diff = useMad ? diff.abs() : diff.mul(diff);
                curError = curError.add(FloatVector.fromArray(F, wt, i * V).mul(diff));
            }
            VectorMask<Float> better = D.compare(VectorOperators.GT, 0f).and(curError.compare(VectorOperators.LT, bestError));
            keepIscale = keepIscale.blend(isc, better);
            keepMin = keepMin.blend(min, better);
            bestError = bestError.blend(curError, better);
            scale = scale.blend(thisScale, better);
            min = min.blend(thisMin, better);
        }
        scale.blend(0f, degenerate).intoArray(s.a, 0);
        min.neg().blend(theMinDegenerate, degenerate).intoArray(s.b, 0);
        keepIscale.blend(Float.NaN, degenerate).intoArray(s.c, 0);
        keepMin.intoArray(s.d, 0);
    }

    // ---- Q4_K, Q5_K ----

    /**
     * quantize_row_q4_K_ref / q5_K_ref (qw == null) or their _impl of one row, the 32-element make_qkx2/3_quants fits of
     * V sub-blocks at once; false (nothing written) for a row with NaN or Inf.
     */
    static boolean encodeQ45_K(boolean q5, float[] x, int xo, int n, float[] qw, MemorySegment dst, long dstOffset) {
        if (!finite(x, xo, n, qw)) return false;
        Scratch s = SCRATCH.get();
        s.ensure(n);
        int nmax = q5 ? 31 : 15;
        int g32 = 2 * G;
        int groups = n / g32;
        float[] w = s.w;
        for (int i = 0; i < n / QK_K; i++) {
            if (qw == null) {
                for (int j = 0; j < QK_K / 32; j++) ImportanceWeights.subBlockRmsWeights(x, xo + i * QK_K + 32 * j, w, i * QK_K + 32 * j);
            } else {
                float sigma2 = ImportanceWeights.superBlockSigma2(x, xo + i * QK_K);
                ImportanceWeights.sigmaWeights(x, xo + i * QK_K, qw, i * QK_K, sigma2, w, i * QK_K, QK_K);
                for (int j = 0; j < QK_K / 32; j++) {
                    float sumw = 0;
                    for (int l = 0; l < 32; ++l) sumw += w[i * QK_K + 32 * j + l];
                    s.sw[i * 8 + j] = sumw;
                }
            }
        }
        for (int g0 = 0; g0 < groups; g0 += V) {
            int used = Math.min(V, groups - g0);
            for (int lane = 0; lane < V; lane++) {
                int g = g0 + (lane < used ? lane : 0);
                for (int j = 0; j < g32; j++) {
                    s.xt[j * V + lane] = x[xo + g * g32 + j];
                    s.wt[j * V + lane] = w[g * g32 + j];
                }
            }
            if (qw == null) {
                if (q5) fitQkx(g32, false, nmax, -0.5f, 0.1f, 15, false, s);
                else fitQkx(g32, false, nmax, -1f, 0.1f, 20, false, s);
            } else {
                fitQkx(g32, true, nmax, -0.9f, 0.05f, 36, false, s);
            }
            for (int lane = 0; lane < used; lane++) {
                int g = g0 + lane;
                s.scales[g] = s.a[lane];
                s.mins[g] = s.b[lane];
                codesQkx(g32, x, xo + g * g32, nmax, s.c[lane], s.d[lane], s.L, g * g32);
            }
        }
        byte[] blk = s.blk45;
        int blockBytes = q5 ? Q5_KCodec.BLOCK_BYTES : Q4_KCodec.BLOCK_BYTES;
        for (int i = 0; i < n / QK_K; i++) {
            Arrays.fill(blk, (byte) 0);
            if (qw == null) Q4_KCodec.finishRef(x, xo + i * QK_K, nmax, s.scales, i * 8, s.mins, i * 8, s.L, i * QK_K, blk);
            else Q4_KCodec.finishWeighted(x, xo + i * QK_K, nmax, s.scales, i * 8, s.mins, i * 8, s.sw, i * 8, s.L, i * QK_K, blk, s.Ls, s.Lm);
            if (q5) Q5_KCodec.pack(s.L, i * QK_K, blk);
            else Q4_KCodec.packQs4(s.L, i * QK_K, blk, 16);
            MemorySegment.copy(blk, 0, dst, LittleEndian.BYTE, dstOffset + (long) i * blockBytes, blockBytes);
        }
        return true;
    }

    // ---- Q6_K ----

    /**
     * quantize_row_q6_K_ref (qw == null) or quantize_row_q6_K_impl of one row, the 16-element make_qx_quants fits
     * (nmax 32, rmse_type 1) of V sub-blocks at once; false (nothing written) for a row with NaN or Inf.
     */
    static boolean encodeQ6_K(float[] x, int xo, int n, float[] qw, MemorySegment dst, long dstOffset) {
        if (!finite(x, xo, n, qw)) return false;
        Scratch s = SCRATCH.get();
        s.ensure(n);
        int groups = n / G;
        for (int g0 = 0; g0 < groups; g0 += V) {
            int used = Math.min(V, groups - g0);
            for (int lane = 0; lane < V; lane++) {
                int g = g0 + (lane < used ? lane : 0);
                for (int j = 0; j < G; j++) {
                    float xv = x[xo + g * G + j];
                    float w = qw != null ? qw[g * G + j] : xv * xv;
                    s.xt[j * V + lane] = xv;
                    s.wt[j * V + lane] = w;
                    s.wxt[j * V + lane] = w * xv;
                }
            }
            VectorQxQuants.fit(32, G, s.xt, s.wt, s.wxt, s.a, s.c);
            for (int lane = 0; lane < used; lane++) {
                int g = g0 + lane;
                s.scales[g] = s.a[lane];
                float is = s.c[lane];
                for (int j = 0; j < G; j++) {
                    int l = Rounding.nearestInt(is * x[xo + g * G + j]);
                    s.L[g * G + j] = Float.isNaN(is) ? 0 : (byte) (32 + Math.max(-32, Math.min(31, l)));
                }
            }
        }
        byte[] blk = s.blk6;
        for (int i = 0; i < n / QK_K; i++) {
            Arrays.fill(blk, (byte) 0);
            Q6_KCodec.finish(x, xo + i * QK_K, s.scales, i * 16, s.L, i * QK_K, blk);
            MemorySegment.copy(blk, 0, dst, LittleEndian.BYTE, dstOffset + (long) i * Q6_KCodec.BLOCK_BYTES, Q6_KCodec.BLOCK_BYTES);
        }
        return true;
    }

    // ---- Q3_K ----

    /** quantize_row_q3_K_ref (qw == null) or quantize_row_q3_K_impl of one row; false (nothing written) for a row with NaN or Inf. */
    static boolean encodeQ3_K(float[] x, int xo, int n, float[] qw, MemorySegment dst, long dstOffset) {
        if (!finite(x, xo, n, qw)) return false;
        Scratch s = SCRATCH.get();
        s.ensure(n);
        float[] w = s.w;
        int groups = n / G;
        if (qw != null) {
            for (int i = 0; i < n / QK_K; i++) {
                float sigma2 = ImportanceWeights.superBlockSigma2(x, xo + i * QK_K);
                ImportanceWeights.sigmaWeights(x, xo + i * QK_K, qw, i * QK_K, sigma2, w, i * QK_K, QK_K);
            }
            for (int g = 0; g < groups; g++) s.sw[g] = Q2_KCodec.sum16(w, g * G);
        }
        if (qw == null) {
            // two batches of V groups per call: make_q3_quants' passes are one long chain of dependent operations per
            // lane, and a second independent chain fills the time the first waits on its divisions
            for (int g0 = 0; g0 < groups; g0 += 2 * V) {
                int used = Math.min(2 * V, groups - g0);
                for (int lane = 0; lane < 2 * V; lane++) {
                    int g = g0 + (lane < used ? lane : 0);
                    transpose(x, xo, g, lane % V, lane < V ? s.xt : s.xt2);
                }
                fitQ3(4, s.xt, s.lt, s.a, s.xt2, s.lt2, s.b);
                for (int lane = 0; lane < used; lane++) {
                    int g = g0 + lane;
                    s.scales[g] = lane < V ? s.a[lane] : s.b[lane - V];
                    float[] lt = lane < V ? s.lt : s.lt2;
                    for (int j = 0; j < G; j++) s.L[g * G + j] = (byte) lt[j * V + lane % V];
                }
            }
        } else {
            for (int g0 = 0; g0 < groups; g0 += V) {
                int used = Math.min(V, groups - g0);
                for (int lane = 0; lane < V; lane++) {
                    int g = g0 + (lane < used ? lane : 0);
                    transpose(x, xo, g, lane, s.xt);
                    transpose(w, 0, g, lane, s.wt);
                    for (int j = 0; j < G; j++) s.wxt[j * V + lane] = s.wt[j * V + lane] * s.xt[j * V + lane];
                }
                VectorQxQuants.fit(4, G, s.xt, s.wt, s.wxt, s.a, s.c);
                for (int lane = 0; lane < used; lane++) {
                    int g = g0 + lane;
                    s.scales[g] = s.a[lane];
                    float is = s.c[lane];
                    for (int j = 0; j < G; j++) {
                        int l = Rounding.nearestInt(is * x[xo + g * G + j]);
                        s.L[g * G + j] = Float.isNaN(is) ? 0 : (byte) (4 + Math.max(-4, Math.min(3, l)));
                    }
                }
            }
        }
        byte[] blk = s.blk;
        for (int i = 0; i < n / QK_K; i++) {
            Arrays.fill(blk, (byte) 0);
            if (qw == null) Q3_KCodec.scalesRef(s.scales, i * 16, blk);
            else Q3_KCodec.scalesWeighted(s.scales, i * 16, s.sw, i * 16, s.Ls, blk);
            finishQ3_K(x, xo + i * QK_K, s.L, i * QK_K, blk);
            MemorySegment.copy(blk, 0, dst, LittleEndian.BYTE, dstOffset + (long) i * Q3_KCodec.BLOCK_BYTES, Q3_KCodec.BLOCK_BYTES);
        }
        return true;
    }

    /**
     * {@link Q3_KCodec#finish} a vector at a time: codes clamp(nearest_int(x / (d*sc)), -4, 3) + 4 of each sub-block
     * whose scale is not 0 (the others keep the first-pass codes at {@code L[lo..]}), then hmask[m] = the third bits
     * of codes m, m+32, ..., m+224 and qs as Q2_K packs the low two bits.
     */
    private static void finishQ3_K(float[] x, int xo, byte[] L, int lo, byte[] blk) {
        float d0 = Float16.toFloat(Q4_KCodec.getShort(blk, Q3_KCodec.D));
        FloatVector magic = FloatVector.broadcast(F, 12582912.0f);
        for (int j = 0; j < QK_K / 16; ++j) {
            float d = d0 * Q3_KCodec.scale(j, blk);
            if (d == 0) continue;
            for (int l = 0; l < G; l += V) {
                IntVector q = FloatVector.fromArray(F, x, xo + 16 * j + l).div(d).add(magic).reinterpretAsInts()
                        .and(0x007FFFFF).sub(0x00400000).max(-4).min(3).add(4);
                ((ByteVector) q.convertShape(VectorOperators.I2B, B, 0)).intoArray(L, lo + 16 * j + l);
            }
        }
        for (int m = 0; m < 32; m += V) {
            IntVector hm = IntVector.zero(I);
            for (int k = 0; k < 8; k++) {
                IntVector c = codes(L, lo + 32 * k + m);
                hm = hm.lanewise(VectorOperators.OR, 1 << k, c.compare(VectorOperators.GT, 3));
            }
            ((ByteVector) hm.convertShape(VectorOperators.I2B, B, 0)).intoArray(blk, m);
        }
        for (int h = 0; h < 2; h++) {
            for (int l = 0; l < 32; l += V) {
                int at = lo + 128 * h + l;
                IntVector qs = codes(L, at).and(3)
                        .or(codes(L, at + 32).and(3).lanewise(VectorOperators.LSHL, 2))
                        .or(codes(L, at + 64).and(3).lanewise(VectorOperators.LSHL, 4))
                        .or(codes(L, at + 96).and(3).lanewise(VectorOperators.LSHL, 6));
                ((ByteVector) qs.convertShape(VectorOperators.I2B, B, 0)).intoArray(blk, Q3_KCodec.QS + 32 * h + l);
            }
        }
    }

    /** V codes (0..255) of {@code L} from {@code at}, as ints. */
    private static IntVector codes(byte[] L, int at) {
        return ((IntVector) ByteVector.fromArray(B, L, at).convertShape(VectorOperators.B2I, I, 0)).and(0xFF);
    }

    /**
     * make_q3_quants(16, nmax, x, L, do_rmse) of two batches of V groups, from {@code xa} and {@code xb}: per lane the
     * scale into {@code sa}/{@code sb} and the codes (0..2*nmax-1, all 0 for an all-zero group) as floats into
     * {@code la}/{@code lb}. A lane whose pass changes nothing would change nothing in a further pass, so running until
     * no lane changes equals C's per-group break. The two batches are written out side by side, not through a helper,
     * so that their vectors stay in registers.
     */
    private static void fitQ3(int nmax, float[] xa, float[] la, float[] sa, float[] xb, float[] lb, float[] sb) {
        FloatVector magic = FloatVector.broadcast(F, 12582912.0f);
        FloatVector amaxA = FloatVector.zero(F), maxA = FloatVector.zero(F), amaxB = FloatVector.zero(F), maxB = FloatVector.zero(F);
        for (int i = 0; i < G; i++) {
            FloatVector xv = FloatVector.fromArray(F, xa, i * V);
            FloatVector ax = xv.abs();
            VectorMask<Float> bigger = ax.compare(VectorOperators.GT, amaxA);
            amaxA = amaxA.blend(ax, bigger);
            maxA = maxA.blend(xv, bigger);
            xv = FloatVector.fromArray(F, xb, i * V);
            ax = xv.abs();
            bigger = ax.compare(VectorOperators.GT, amaxB);
            amaxB = amaxB.blend(ax, bigger);
            maxB = maxB.blend(xv, bigger);
        }
        FloatVector iscaleA = FloatVector.broadcast(F, (float) -nmax).div(maxA);
        FloatVector iscaleB = FloatVector.broadcast(F, (float) -nmax).div(maxB);
        FloatVector sumlxA = FloatVector.zero(F), suml2A = FloatVector.zero(F), sumlxB = FloatVector.zero(F), suml2B = FloatVector.zero(F);
        for (int i = 0; i < G; i++) {
            FloatVector xv = FloatVector.fromArray(F, xa, i * V);
            IntVector l = iscaleA.mul(xv).add(magic).reinterpretAsInts().and(0x007FFFFF).sub(0x00400000).max(-nmax).min(nmax - 1);
            FloatVector lf = (FloatVector) l.convert(VectorOperators.I2F, 0);
            lf.intoArray(la, i * V);
            FloatVector w = xv.mul(xv);
            sumlxA = sumlxA.add(w.mul(xv).mul(lf));
            suml2A = suml2A.add(w.mul(lf).mul(lf));
            xv = FloatVector.fromArray(F, xb, i * V);
            l = iscaleB.mul(xv).add(magic).reinterpretAsInts().and(0x007FFFFF).sub(0x00400000).max(-nmax).min(nmax - 1);
            lf = (FloatVector) l.convert(VectorOperators.I2F, 0);
            lf.intoArray(lb, i * V);
            w = xv.mul(xv);
            sumlxB = sumlxB.add(w.mul(xv).mul(lf));
            suml2B = suml2B.add(w.mul(lf).mul(lf));
        }
        for (int itry = 0; itry < 5; ++itry) {
            long changed = 0;
            for (int i = 0; i < G; i++) {
                FloatVector xv = FloatVector.fromArray(F, xa, i * V);
                FloatVector w = xv.mul(xv);
                FloatVector wx = w.mul(xv);
                FloatVector li = FloatVector.fromArray(F, la, i * V);
                FloatVector slx = sumlxA.sub(wx.mul(li));
                FloatVector sl2 = suml2A.sub(w.mul(li).mul(li));
                IntVector nl = xv.mul(sl2).div(slx).add(magic).reinterpretAsInts().and(0x007FFFFF).sub(0x00400000).max(-nmax).min(nmax - 1);
                FloatVector newL = (FloatVector) nl.convert(VectorOperators.I2F, 0);
                FloatVector slx2 = slx.add(wx.mul(newL));
                FloatVector sl2b = sl2.add(w.mul(newL).mul(newL));
                VectorMask<Float> upd = slx.compare(VectorOperators.GT, 0f)
                        .and(newL.compare(VectorOperators.NE, li))
                        .and(sl2b.compare(VectorOperators.GT, 0f))
                        .and(slx2.mul(slx2).mul(suml2A).compare(VectorOperators.GT, sumlxA.mul(sumlxA).mul(sl2b)));
                li.blend(newL, upd).intoArray(la, i * V);
                sumlxA = sumlxA.blend(slx2, upd);
                suml2A = suml2A.blend(sl2b, upd);
                changed |= upd.toLong();

                xv = FloatVector.fromArray(F, xb, i * V);
                w = xv.mul(xv);
                wx = w.mul(xv);
                li = FloatVector.fromArray(F, lb, i * V);
                slx = sumlxB.sub(wx.mul(li));
                sl2 = suml2B.sub(w.mul(li).mul(li));
                nl = xv.mul(sl2).div(slx).add(magic).reinterpretAsInts().and(0x007FFFFF).sub(0x00400000).max(-nmax).min(nmax - 1);
                newL = (FloatVector) nl.convert(VectorOperators.I2F, 0);
                slx2 = slx.add(wx.mul(newL));
                sl2b = sl2.add(w.mul(newL).mul(newL));
                upd = slx.compare(VectorOperators.GT, 0f)
                        .and(newL.compare(VectorOperators.NE, li))
                        .and(sl2b.compare(VectorOperators.GT, 0f))
                        .and(slx2.mul(slx2).mul(suml2B).compare(VectorOperators.GT, sumlxB.mul(sumlxB).mul(sl2b)));
                li.blend(newL, upd).intoArray(lb, i * V);
                sumlxB = sumlxB.blend(slx2, upd);
                suml2B = suml2B.blend(sl2b, upd);
                changed |= upd.toLong();
            }
            if (changed == 0) break;
        }
        VectorMask<Float> zeroA = amaxA.compare(VectorOperators.LT, QuantFit.GROUP_MAX_EPS);
        VectorMask<Float> zeroB = amaxB.compare(VectorOperators.LT, QuantFit.GROUP_MAX_EPS);
        FloatVector.zero(F).blend(sumlxA.div(suml2A), suml2A.compare(VectorOperators.GT, 0f)).blend(0f, zeroA).intoArray(sa, 0);
        FloatVector.zero(F).blend(sumlxB.div(suml2B), suml2B.compare(VectorOperators.GT, 0f)).blend(0f, zeroB).intoArray(sb, 0);
        FloatVector offset = FloatVector.broadcast(F, (float) nmax);
        for (int i = 0; i < G; i++) {
            FloatVector.fromArray(F, la, i * V).add(offset).blend(0f, zeroA).intoArray(la, i * V);
            FloatVector.fromArray(F, lb, i * V).add(offset).blend(0f, zeroB).intoArray(lb, i * V);
        }
    }
}
