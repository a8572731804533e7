package dev.requant.runtime.cpu;

import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.VectorMask;
import jdk.incubator.vector.VectorOperators;
import jdk.incubator.vector.VectorSpecies;

/**
 * The float kernels behind every matrix multiplication {@code y[t][o] = Σ_k x[t][k]·W[o][k]}.
 *
 * <p>Batches use an outer-product micro-kernel: a group of {@link #NR} weight rows is decoded once into a k-major
 * "panel" ({@code panel[k*NR + j] = W[o0+j][k]}), then every block of 6 activation rows is multiplied against it with
 * 12 vector accumulators (6 rows × 2 vectors of outputs), one broadcast activation per row and step. The accumulation
 * runs over k in order with fused multiply-adds, so each output equals {@link #referencePanel}'s bit for bit.
 *
 * <p>Single rows (and batches too small to amortize the panel) use {@link #dot}: lane-parallel partial sums reduced
 * at the end, which reorders the additions (tested against the reference within float rounding).
 */
public final class PanelGemm {
    private PanelGemm() {}

    static final VectorSpecies<Float> F = FloatVector.SPECIES_PREFERRED;
    static final int L = F.length();
    /** Weight rows per panel: two vectors of outputs. */
    public static final int NR = 2 * L;
    /** Activation rows per micro-kernel call. */
    static final int MR = 6;

    /**
     * Multiplies {@code rows} activation rows ({@code x[xOff + t*ldx + k]}, k < K) by a panel of NR weight rows and
     * stores the first {@code valid} outputs of each row at {@code y[yOff + t*ldy + j]}.
     */
    public static void multiplyPanel(float[] x, int xOff, int ldx, int rows, int K, float[] panel, float[] y, int yOff, int ldy, int valid) {
        VectorMask<Float> m0 = F.indexInRange(0, valid);
        VectorMask<Float> m1 = F.indexInRange(L, valid);
        boolean full = valid == NR;
        int t = 0;
        for (; t + MR <= rows; t += MR) {
            FloatVector a00 = FloatVector.zero(F), a01 = a00, a10 = a00, a11 = a00, a20 = a00, a21 = a00;
            FloatVector a30 = a00, a31 = a00, a40 = a00, a41 = a00, a50 = a00, a51 = a00;
            int x0 = xOff + t * ldx, x1 = x0 + ldx, x2 = x1 + ldx, x3 = x2 + ldx, x4 = x3 + ldx, x5 = x4 + ldx;
            for (int k = 0, p = 0; k < K; k++, p += NR) {
                FloatVector p0 = FloatVector.fromArray(F, panel, p);
                FloatVector p1 = FloatVector.fromArray(F, panel, p + L);
                FloatVector b = FloatVector.broadcast(F, x[x0 + k]);
                a00 = p0.fma(b, a00);
                a01 = p1.fma(b, a01);
                b = FloatVector.broadcast(F, x[x1 + k]);
                a10 = p0.fma(b, a10);
                a11 = p1.fma(b, a11);
                b = FloatVector.broadcast(F, x[x2 + k]);
                a20 = p0.fma(b, a20);
                a21 = p1.fma(b, a21);
                b = FloatVector.broadcast(F, x[x3 + k]);
                a30 = p0.fma(b, a30);
                a31 = p1.fma(b, a31);
                b = FloatVector.broadcast(F, x[x4 + k]);
                a40 = p0.fma(b, a40);
                a41 = p1.fma(b, a41);
                b = FloatVector.broadcast(F, x[x5 + k]);
                a50 = p0.fma(b, a50);
                a51 = p1.fma(b, a51);
            }
            int y0 = t * ldy + yOff;
            store(a00, a01, y, y0, full, m0, m1);
            store(a10, a11, y, y0 + ldy, full, m0, m1);
            store(a20, a21, y, y0 + 2 * ldy, full, m0, m1);
            store(a30, a31, y, y0 + 3 * ldy, full, m0, m1);
            store(a40, a41, y, y0 + 4 * ldy, full, m0, m1);
            store(a50, a51, y, y0 + 5 * ldy, full, m0, m1);
        }
        for (; t < rows; t++) {
            FloatVector a0 = FloatVector.zero(F), a1 = a0;
            int x0 = xOff + t * ldx;
            for (int k = 0, p = 0; k < K; k++, p += NR) {
                FloatVector b = FloatVector.broadcast(F, x[x0 + k]);
                a0 = FloatVector.fromArray(F, panel, p).fma(b, a0);
                a1 = FloatVector.fromArray(F, panel, p + L).fma(b, a1);
            }
            store(a0, a1, y, t * ldy + yOff, full, m0, m1);
        }
    }

    private static void store(FloatVector a0, FloatVector a1, float[] y, int off, boolean full, VectorMask<Float> m0, VectorMask<Float> m1) {
        if (full) {
            a0.intoArray(y, off);
            a1.intoArray(y, off + L);
        } else {
            a0.intoArray(y, off, m0);
            a1.intoArray(y, off + L, m1);
        }
    }

    /** The scalar reference of {@link #multiplyPanel}: the same fused multiply-adds in the same order. */
    public static void referencePanel(float[] x, int xOff, int ldx, int rows, int K, float[] panel, float[] y, int yOff, int ldy, int valid) {
        for (int t = 0; t < rows; t++) {
            for (int j = 0; j < valid; j++) {
                float acc = 0f;
                for (int k = 0; k < K; k++) acc = Math.fma(panel[k * NR + j], x[xOff + t * ldx + k], acc);
                y[yOff + t * ldy + j] = acc;
            }
        }
    }

    /** Writes weight row {@code row} (K floats) into column {@code j} of a panel. */
    public static void toPanel(float[] row, int K, float[] panel, int j) {
        for (int k = 0, p = j; k < K; k++, p += NR) panel[p] = row[k];
    }

    /** Σ a[aOff+k]·b[bOff+k] for k < n, vectorized (partial sums per lane, then a tree reduction). */
    public static float dot(float[] a, int aOff, float[] b, int bOff, int n) {
        int k = 0;
        FloatVector acc0 = FloatVector.zero(F), acc1 = acc0;
        for (; k + 2 * L <= n; k += 2 * L) {
            acc0 = FloatVector.fromArray(F, a, aOff + k).fma(FloatVector.fromArray(F, b, bOff + k), acc0);
            acc1 = FloatVector.fromArray(F, a, aOff + k + L).fma(FloatVector.fromArray(F, b, bOff + k + L), acc1);
        }
        for (; k + L <= n; k += L) {
            acc0 = FloatVector.fromArray(F, a, aOff + k).fma(FloatVector.fromArray(F, b, bOff + k), acc0);
        }
        float s = VectorMath.sum(acc0.add(acc1));
        for (; k < n; k++) s = Math.fma(a[aOff + k], b[bOff + k], s);
        return s;
    }

    /** The scalar reference of {@link #dot}. */
    public static float referenceDot(float[] a, int aOff, float[] b, int bOff, int n) {
        float s = 0f;
        for (int k = 0; k < n; k++) s = Math.fma(a[aOff + k], b[bOff + k], s);
        return s;
    }
}
