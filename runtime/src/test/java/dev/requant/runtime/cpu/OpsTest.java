package dev.requant.runtime.cpu;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.data.Offset.offset;

import java.util.SplittableRandom;
import org.junit.jupiter.api.Test;

/** Vector versions of the row ops against the scalar references, and the scalar references against the formulas. */
class OpsTest {
    private final SplittableRandom rnd = new SplittableRandom(3);

    @Test
    void rmsNormMatchesFormulaAndScalar() {
        for (int n : new int[] {1, 5, 16, 17, 64, 257}) {
            float[] x = PanelGemmTest.random(rnd, n);
            float[] w = PanelGemmTest.random(rnd, n);
            double ss = 0;
            for (float v : x) ss += (double) v * v;
            double s = 1 / Math.sqrt(ss / n + 1e-6);
            float[] ref = new float[n], fast = new float[n];
            Ops.rmsNorm(x, 0, w, ref, 0, n, 1e-6f, false);
            Ops.rmsNorm(x, 0, w, fast, 0, n, 1e-6f, true);
            for (int i = 0; i < n; i++) {
                assertThat((double) ref[i]).isCloseTo(x[i] * s * w[i], offset(1e-6));
                assertThat(fast[i]).isCloseTo(ref[i], offset(Math.ulp(ref[i]) * 2));
            }
        }
    }

    @Test
    void geluMulMatchesTanhFormula() {
        for (int n : new int[] {1, 7, 16, 33, 200}) {
            float[] g = new float[n], u = new float[n];
            for (int i = 0; i < n; i++) {
                g[i] = (float) (rnd.nextDouble() * 16 - 8);
                u[i] = (float) (rnd.nextDouble() * 2 - 1);
            }
            float[] ref = g.clone(), fast = g.clone();
            Ops.geluMul(ref, 0, u, 0, n, false);
            Ops.geluMul(fast, 0, u, 0, n, true);
            for (int i = 0; i < n; i++) {
                double xg = g[i];
                double exact = 0.5 * xg * (1 + Math.tanh(Math.sqrt(2 / Math.PI) * (xg + 0.044715 * xg * xg * xg))) * u[i];
                assertThat((double) ref[i]).isCloseTo(exact, offset(1e-6 * (1 + Math.abs(exact))));
                assertThat((double) fast[i]).isCloseTo(ref[i], offset(4e-7 * (1 + Math.abs(exact))));
            }
        }
    }

    @Test
    void softmaxSumsToOneAndMatchesScalar() {
        for (int n : new int[] {1, 2, 15, 16, 17, 100}) {
            float[] x = PanelGemmTest.random(rnd, n);
            for (int i = 0; i < n; i++) x[i] *= 20;
            if (n > 3) x[2] = Float.NEGATIVE_INFINITY; // masked entries
            float[] ref = x.clone(), fast = x.clone();
            Ops.softmax(ref, 0, n, false);
            Ops.softmax(fast, 0, n, true);
            double sum = 0;
            double max = Double.NEGATIVE_INFINITY;
            for (float v : x) max = Math.max(max, v);
            double z = 0;
            for (float v : x) z += Math.exp(v - max);
            for (int i = 0; i < n; i++) {
                sum += ref[i];
                assertThat((double) ref[i]).isCloseTo(Math.exp(x[i] - max) / z, offset(1e-6));
                assertThat(fast[i]).isCloseTo(ref[i], offset(1e-6f));
            }
            assertThat(sum).isCloseTo(1.0, offset(1e-5));
            if (n > 3) assertThat(ref[2]).isZero();
        }
    }

    @Test
    void softcapAndAxpy() {
        float[] x = PanelGemmTest.random(rnd, 37);
        for (int i = 0; i < x.length; i++) x[i] *= 100;
        float[] ref = x.clone(), fast = x.clone();
        Ops.softcap(ref, 0, 37, 30f, false);
        Ops.softcap(fast, 0, 37, 30f, true);
        for (int i = 0; i < 37; i++) {
            assertThat((double) ref[i]).isCloseTo(30 * Math.tanh(x[i] / 30.0), offset(1e-5));
            assertThat(fast[i]).isCloseTo(ref[i], offset(1e-5f));
        }
        float[] y = PanelGemmTest.random(rnd, 40), y2 = y.clone();
        Ops.axpy(0.5f, x, 1, y, 2, 35, false);
        Ops.axpy(0.5f, x, 1, y2, 2, 35, true);
        assertThat(y2).containsExactly(y);
    }
}
