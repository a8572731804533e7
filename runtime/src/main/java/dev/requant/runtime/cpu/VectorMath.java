package dev.requant.runtime.cpu;

import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.IntVector;
import jdk.incubator.vector.VectorMask;
import jdk.incubator.vector.VectorOperators;
import jdk.incubator.vector.VectorSpecies;

/**
 * exp and tanh for float vectors, built only from IEEE-exact operations (+, ×, fused multiply-add, min/max, bit
 * manipulation), with scalar twins that perform the same operations lane by lane. Why not the Vector API's EXP/TANH:
 * those are intrinsified to a vector math library only once C2 compiles the loop, and fall back to Math per lane
 * before, so the same model could give different last bits early and late in a run. With these, a forward pass is a
 * deterministic function of its inputs. Polynomials are Cephes' expf/tanhf (about 1 ulp).
 */
public final class VectorMath {
    private VectorMath() {}

    static final VectorSpecies<Float> F = FloatVector.SPECIES_PREFERRED;
    static final VectorSpecies<Integer> I = VectorSpecies.of(int.class, F.vectorShape());

    private static final float LOG2E = 1.44269504088896341f;
    private static final float LN2_HI = 0.693359375f;
    private static final float LN2_LO = -2.12194440e-4f;
    private static final float ROUND = 12582912f; // 1.5·2²³: adding it rounds to an integer (half to even)
    private static final float X_MIN = -104f, X_MAX = 89f;
    private static final float P0 = 1.9875691500e-4f, P1 = 1.3981999507e-3f, P2 = 8.3334519073e-3f,
            P3 = 4.1665795894e-2f, P4 = 1.6666665459e-1f, P5 = 5.0000001201e-1f;
    private static final float T0 = -5.70498872745e-3f, T1 = 2.06390887954e-2f, T2 = -5.37397155531e-2f,
            T3 = 1.33314422036e-1f, T4 = -3.33332819422e-1f;
    private static final float TANH_SMALL = 0.625f;

    /**
     * The sum of a vector's lanes in lane order. {@code reduceLanes(ADD)} leaves the order open, and it differs between
     * the interpreter and C2, which would make results depend on JIT state.
     */
    public static float sum(FloatVector v) {
        float[] a = v.toArray();
        float s = 0f;
        for (float x : a) s += x;
        return s;
    }

    /** {@link #sum(FloatVector)} for doubles. */
    public static double sum(jdk.incubator.vector.DoubleVector v) {
        double[] a = v.toArray();
        double s = 0;
        for (double x : a) s += x;
        return s;
    }

    /** e^x; 0 below about -103.9 (through subnormals), +inf above about 88.72, NaN for NaN. */
    public static FloatVector exp(FloatVector x) {
        x = x.max(X_MIN).min(X_MAX);
        FloatVector n = x.mul(LOG2E).add(ROUND).sub(ROUND);
        FloatVector r = n.mul(-LN2_HI).add(x);
        r = n.mul(-LN2_LO).add(r);
        FloatVector p = r.mul(P0).add(P1);
        p = p.mul(r).add(P2);
        p = p.mul(r).add(P3);
        p = p.mul(r).add(P4);
        p = p.mul(r).add(P5);
        p = p.mul(r.mul(r)).add(r).add(1f);
        IntVector ni = (IntVector) n.convertShape(VectorOperators.F2I, I, 0);
        IntVector half = ni.lanewise(VectorOperators.ASHR, 1);
        FloatVector s1 = half.add(127).lanewise(VectorOperators.LSHL, 23).reinterpretAsFloats();
        FloatVector s2 = ni.sub(half).add(127).lanewise(VectorOperators.LSHL, 23).reinterpretAsFloats();
        return p.mul(s1).mul(s2);
    }

    /** The scalar twin of {@link #exp(FloatVector)}: the same operations, so the same bits. */
    public static float exp(float x) {
        x = Math.min(Math.max(x, X_MIN), X_MAX);
        float n = (x * LOG2E + ROUND) - ROUND;
        float r = n * -LN2_HI + x;
        r = n * -LN2_LO + r;
        float p = r * P0 + P1;
        p = p * r + P2;
        p = p * r + P3;
        p = p * r + P4;
        p = p * r + P5;
        p = (p * (r * r) + r) + 1f;
        int ni = (int) n;
        int half = ni >> 1;
        float s1 = Float.intBitsToFloat((half + 127) << 23);
        float s2 = Float.intBitsToFloat((ni - half + 127) << 23);
        return (p * s1) * s2;
    }

    /** tanh(x): a polynomial for |x| < 0.625, else 1 − 2/(e^{2|x|} + 1) with the sign of x. */
    public static FloatVector tanh(FloatVector x) {
        FloatVector ax = x.abs();
        FloatVector z = x.mul(x);
        FloatVector small = z.mul(T0).add(T1);
        small = small.mul(z).add(T2);
        small = small.mul(z).add(T3);
        small = small.mul(z).add(T4);
        small = small.mul(z).mul(x).add(x);
        FloatVector e = exp(ax.mul(2f));
        FloatVector large = FloatVector.broadcast(F, 1f).sub(FloatVector.broadcast(F, 2f).div(e.add(1f)));
        VectorMask<Float> neg = x.compare(VectorOperators.LT, 0f);
        large = large.blend(large.neg(), neg);
        return large.blend(small, ax.compare(VectorOperators.LT, TANH_SMALL));
    }

    /** The scalar twin of {@link #tanh(FloatVector)}. */
    public static float tanh(float x) {
        float ax = Math.abs(x);
        if (ax < TANH_SMALL) {
            float z = x * x;
            float s = z * T0 + T1;
            s = s * z + T2;
            s = s * z + T3;
            s = s * z + T4;
            return (s * z) * x + x;
        }
        float large = 1f - 2f / (exp(ax * 2f) + 1f);
        return x < 0f ? -large : large;
    }
}
