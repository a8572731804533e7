package dev.requant.runtime.cpu;

import static org.assertj.core.api.Assertions.assertThat;

import java.util.SplittableRandom;
import jdk.incubator.vector.FloatVector;
import org.junit.jupiter.api.Test;

/** The vector exp/tanh against their scalar twins (bit for bit) and against StrictMath (accuracy). */
class VectorMathTest {
    static final int L = VectorMath.F.length();

    private static float[] inputs(long seed, float lo, float hi) {
        SplittableRandom r = new SplittableRandom(seed);
        float[] x = new float[4096];
        for (int i = 0; i < x.length; i++) x[i] = lo + (hi - lo) * (float) r.nextDouble();
        float[] special = {0f, -0f, Float.NaN, Float.POSITIVE_INFINITY, Float.NEGATIVE_INFINITY, 88.7f, 88.8f, -87.3f,
                -103f, -110f, 1e-30f, -1e-30f, Float.MIN_VALUE, 0.625f, -0.625f, 0.62499994f, 20f, -20f};
        System.arraycopy(special, 0, x, 0, special.length);
        return x;
    }

    @Test
    void expVectorEqualsScalarTwinAndIsAccurate() {
        float[] x = inputs(1, -110f, 90f);
        float[] v = new float[x.length];
        for (int i = 0; i + L <= x.length; i += L) VectorMath.exp(FloatVector.fromArray(VectorMath.F, x, i)).intoArray(v, i);
        for (int i = 0; i < x.length; i++) {
            float s = VectorMath.exp(x[i]);
            assertThat(Float.floatToIntBits(v[i])).as("exp(%s)", x[i]).isEqualTo(Float.floatToIntBits(s));
            double ref = StrictMath.exp(x[i]);
            if (Float.isNaN(x[i])) assertThat(s).isNaN();
            else if (ref > Float.MAX_VALUE) assertThat(s).isEqualTo(Float.POSITIVE_INFINITY);
            else if (ref < 1e-38) assertThat((double) s).isCloseTo(ref, org.assertj.core.data.Offset.offset(2e-45 * 4));
            else assertThat(Math.abs(s - ref) / Math.ulp((float) ref)).as("exp(%s) = %s vs %s", x[i], s, ref).isLessThanOrEqualTo(2.0);
        }
    }

    @Test
    void tanhVectorEqualsScalarTwinAndIsAccurate() {
        float[] x = inputs(2, -12f, 12f);
        float[] v = new float[x.length];
        for (int i = 0; i + L <= x.length; i += L) VectorMath.tanh(FloatVector.fromArray(VectorMath.F, x, i)).intoArray(v, i);
        for (int i = 0; i < x.length; i++) {
            float s = VectorMath.tanh(x[i]);
            assertThat(Float.floatToIntBits(v[i])).as("tanh(%s)", x[i]).isEqualTo(Float.floatToIntBits(s));
            if (Float.isNaN(x[i])) {
                assertThat(s).isNaN();
                continue;
            }
            double ref = StrictMath.tanh(x[i]);
            assertThat(Math.abs(s - ref)).as("tanh(%s) = %s vs %s", x[i], s, ref).isLessThanOrEqualTo(3 * Math.ulp((float) Math.max(Math.abs(ref), 1e-38)) + 1e-45);
        }
    }
}
