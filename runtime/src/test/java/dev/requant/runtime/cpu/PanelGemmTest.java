package dev.requant.runtime.cpu;

import static org.assertj.core.api.Assertions.assertThat;

import java.util.SplittableRandom;
import org.junit.jupiter.api.Test;

/** The vector kernels against their scalar references on random data, odd sizes included. */
class PanelGemmTest {
    @Test
    void panelKernelIsBitIdenticalToReference() {
        SplittableRandom rnd = new SplittableRandom(7);
        int NR = PanelGemm.NR;
        for (int rows : new int[] {1, 2, 5, 6, 7, 12, 13, 19}) {
            for (int K : new int[] {1, 3, 16, 17, 64, 100}) {
                for (int valid : new int[] {1, NR / 2 + 1, NR - 1, NR}) {
                    int ldx = K + 3, ldy = NR + 5, xOff = 2, yOff = 1;
                    float[] x = random(rnd, xOff + rows * ldx);
                    float[] panel = random(rnd, K * NR);
                    if (rows > 3 && K > 2) {
                        x[xOff + 3 * ldx + 1] = Float.NaN;
                        x[xOff + 2 * ldx] = Float.POSITIVE_INFINITY;
                        x[xOff + 1] = Float.MIN_VALUE;
                    }
                    float[] yRef = new float[yOff + rows * ldy + NR];
                    float[] yVec = yRef.clone();
                    java.util.Arrays.fill(yRef, 123f);
                    java.util.Arrays.fill(yVec, 123f);
                    PanelGemm.referencePanel(x, xOff, ldx, rows, K, panel, yRef, yOff, ldy, valid);
                    PanelGemm.multiplyPanel(x, xOff, ldx, rows, K, panel, yVec, yOff, ldy, valid);
                    for (int i = 0; i < yRef.length; i++) {
                        if (Float.isNaN(yRef[i])) assertThat(yVec[i]).isNaN();
                        else assertThat(yVec[i]).as("rows %d K %d valid %d at %d", rows, K, valid, i).isEqualTo(yRef[i]);
                    }
                }
            }
        }
    }

    @Test
    void dotAgreesWithReferenceWithinRounding() {
        SplittableRandom rnd = new SplittableRandom(8);
        for (int n : new int[] {0, 1, 7, 15, 16, 17, 31, 33, 64, 255, 1001}) {
            float[] a = random(rnd, n + 3), b = random(rnd, n + 5);
            float ref = PanelGemm.referenceDot(a, 3, b, 5, n);
            float fast = PanelGemm.dot(a, 3, b, 5, n);
            double mag = 0;
            for (int k = 0; k < n; k++) mag += Math.abs((double) a[3 + k] * b[5 + k]);
            assertThat((double) fast).as("n=%d", n).isCloseTo(ref, org.assertj.core.data.Offset.offset(1e-6 * mag + 1e-30));
        }
    }

    static float[] random(SplittableRandom rnd, int n) {
        float[] v = new float[n];
        for (int i = 0; i < n; i++) v[i] = (float) (rnd.nextDouble() * 2 - 1);
        return v;
    }
}
