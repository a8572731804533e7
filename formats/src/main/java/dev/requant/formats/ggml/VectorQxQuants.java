package dev.requant.formats.ggml;

import dev.requant.formats.io.LittleEndian;
import java.lang.foreign.MemorySegment;
import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.IntVector;
import jdk.incubator.vector.VectorMask;
import jdk.incubator.vector.VectorOperators;
import jdk.incubator.vector.VectorSpecies;

/**
 * The imatrix paths of Q4_0 and Q5_0 (quantize_row_q4_0_impl / q5_0_impl: make_qx_quants(32, nmax, ..., rmse_type
 * 1, weights)) with one 32-element block per vector lane. Each lane runs exactly the scalar sequence of binary32
 * operations of {@link QuantFit#makeQxQuants} for its block (same order of the running sums, same divisions, the same
 * nearest_int), so the bytes are identical to the scalar reference's; only independent blocks run side by side.
 * A row's last group of blocks fills its unused lanes with a copy of a block and drops their results.
 */
final class VectorQxQuants {
    private VectorQxQuants() {}

    private static final VectorSpecies<Float> F = FloatVector.SPECIES_PREFERRED;
    private static final VectorSpecies<Integer> I = IntVector.SPECIES_PREFERRED;
    private static final int V = F.length();
    private static final int QK = 32;

    /** Per-thread scratch: transposed x, weights, w*x, and per-lane results. */
    private static final ThreadLocal<float[][]> SCRATCH = ThreadLocal.withInitial(() -> new float[][] {
        new float[QK * V], new float[QK * V], new float[QK * V], new float[V], new float[V]});

    static boolean supported() {
        return F.length() == I.length() && V >= 8;
    }

    /** quantize_row_q4_0_impl (nmax 8) or q5_0_impl (nmax 16) of one row with importance {@code qw}. */
    static void encodeRow(int nmax, float[] x, int xo, int n, float[] qw, MemorySegment dst, long dstOffset) {
        int blockBytes = nmax == 8 ? 18 : 22;
        float sigma2 = ImportanceWeights.rowSigma2(x, xo, n);
        float[][] s = SCRATCH.get();
        float[] xt = s[0], wt = s[1], wxt = s[2], scale = s[3], bestIscale = s[4];
        int blocks = n / QK;
        byte[] L = new byte[QK];
        byte[] packed = new byte[blockBytes];
        for (int b = 0; b < blocks; b += V) {
            int used = Math.min(V, blocks - b);
            for (int lane = 0; lane < V; lane++) {
                // lanes past the row's last block repeat its first one; their results are dropped
                int blk = b + (lane < used ? lane : 0);
                int o = xo + blk * QK, qo = blk * QK;
                for (int j = 0; j < QK; j++) {
                    float xj = x[o + j];
                    float w = qw[qo + j] * (float) Math.sqrt(sigma2 + xj * xj); // ImportanceWeights.sigmaWeights
                    xt[j * V + lane] = xj;
                    wt[j * V + lane] = w;
                    wxt[j * V + lane] = w * xj;
                }
            }
            fit(nmax, QK, xt, wt, wxt, scale, bestIscale);
            for (int lane = 0; lane < used; lane++) {
                float is = bestIscale[lane];
                for (int j = 0; j < QK; j++) {
                    int l = Rounding.nearestInt(is * xt[j * V + lane]);
                    L[j] = (byte) (nmax + Math.max(-nmax, Math.min(nmax - 1, l)));
                }
                if (Float.isNaN(is)) java.util.Arrays.fill(L, (byte) 0); // the all-zero block (amax < GROUP_MAX_EPS)
                pack(nmax, scale[lane], L, packed);
                MemorySegment.copy(packed, 0, dst, LittleEndian.BYTE, dstOffset + (long) (b + lane) * blockBytes, blockBytes);
            }
        }
    }

    /**
     * make_qx_quants(g, nmax, x, L, rmse_type 1, w) for V groups of g elements at once (element j of lane k at
     * {@code [j * V + k]} of xt, wt and wxt = w*x); returns per lane the scale and the inverse scale whose codes were
     * kept (NaN for an all-zero group, whose codes are 0 and scale 0). The running sums are written out twice, not
     * shared through a helper, so that no vector escapes and C2 keeps them in registers. Q3_K's imatrix path uses it
     * with g = 16.
     */
    static void fit(int nmax, int g, float[] xt, float[] wt, float[] wxt, float[] scaleOut, float[] iscaleOut) {
        // first largest magnitude and its signed value
        FloatVector amax = FloatVector.zero(F), max = FloatVector.zero(F);
        for (int j = 0; j < g; j++) {
            FloatVector xv = FloatVector.fromArray(F, xt, j * V);
            FloatVector ax = xv.abs();
            VectorMask<Float> bigger = ax.compare(VectorOperators.GT, amax);
            amax = amax.blend(ax, bigger);
            max = max.blend(xv, bigger);
        }
        VectorMask<Float> zero = amax.compare(VectorOperators.LT, QuantFit.GROUP_MAX_EPS);
        FloatVector magic = FloatVector.broadcast(F, 12582912.0f);
        FloatVector iscale = FloatVector.broadcast(F, (float) -nmax).div(max);
        FloatVector sumlx = FloatVector.zero(F), suml2 = FloatVector.zero(F);
        for (int j = 0; j < g; j++) {
            FloatVector xv = FloatVector.fromArray(F, xt, j * V);
            IntVector l = iscale.mul(xv).add(magic).reinterpretAsInts().and(0x007FFFFF).sub(0x00400000).max(-nmax).min(nmax - 1);
            FloatVector lf = (FloatVector) l.convert(VectorOperators.I2F, 0);
            sumlx = sumlx.add(FloatVector.fromArray(F, wxt, j * V).mul(lf));
            suml2 = suml2.add(FloatVector.fromArray(F, wt, j * V).mul(lf).mul(lf));
        }
        FloatVector scale = sumlx.div(suml2).blend(0f, suml2.compare(VectorOperators.EQ, 0f));
        FloatVector best = scale.mul(sumlx);
        FloatVector keep = iscale;
        for (int is = -9; is <= 9; ++is) {
            if (is == 0) continue;
            FloatVector isc = FloatVector.broadcast(F, -(nmax + 0.1f * is)).div(max);
            FloatVector tlx = FloatVector.zero(F), tl2 = FloatVector.zero(F);
            for (int j = 0; j < g; j++) {
                FloatVector xv = FloatVector.fromArray(F, xt, j * V);
                IntVector l = isc.mul(xv).add(magic).reinterpretAsInts().and(0x007FFFFF).sub(0x00400000).max(-nmax).min(nmax - 1);
                FloatVector lf = (FloatVector) l.convert(VectorOperators.I2F, 0);
                tlx = tlx.add(FloatVector.fromArray(F, wxt, j * V).mul(lf));
                tl2 = tl2.add(FloatVector.fromArray(F, wt, j * V).mul(lf).mul(lf));
            }
            VectorMask<Float> better = tl2.compare(VectorOperators.GT, 0f).and(tlx.mul(tlx).compare(VectorOperators.GT, best.mul(tl2)));
            FloatVector newScale = tlx.div(tl2);
            scale = scale.blend(newScale, better);
            best = best.blend(newScale.mul(tlx), better);
            keep = keep.blend(isc, better);
        }
        scale.blend(0f, zero).intoArray(scaleOut, 0);
        keep.blend(Float.NaN, zero).intoArray(iscaleOut, 0);
    }

    private static void pack(int nmax, float d, byte[] L, byte[] out) {
        short h = Float16.fromFloat(d);
        out[0] = (byte) h;
        out[1] = (byte) (h >> 8);
        if (nmax == 8) {
            for (int j = 0; j < 16; ++j) out[2 + j] = (byte) (L[j] | (L[j + 16] << 4));
            return;
        }
        int qh = 0;
        for (int j = 0; j < 16; ++j) {
            int xi0 = L[j] & 0xFF, xi1 = L[j + 16] & 0xFF;
            out[6 + j] = (byte) ((xi0 & 0x0F) | ((xi1 & 0x0F) << 4));
            qh |= ((xi0 & 0x10) >>> 4) << j;
            qh |= ((xi1 & 0x10) >>> 4) << (j + 16);
        }
        out[2] = (byte) qh;
        out[3] = (byte) (qh >> 8);
        out[4] = (byte) (qh >> 16);
        out[5] = (byte) (qh >> 24);
    }
}
