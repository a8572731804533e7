package dev.requant.formats.ggml;

import static org.assertj.core.api.Assertions.assertThat;

import java.util.SplittableRandom;
import org.junit.jupiter.api.Test;

class FiniteCheckTest {
    @Test
    void findsNanAndInfinityAtEveryPositionAndLength() {
        SplittableRandom r = new SplittableRandom(1);
        float[] specials = {Float.NaN, Float.POSITIVE_INFINITY, Float.NEGATIVE_INFINITY, Float.intBitsToFloat(0x7fc00001),
                Float.intBitsToFloat(0xff800001)};
        for (int n : new int[] {0, 1, 7, 8, 15, 16, 17, 33, 100}) {
            float[] x = new float[n + 3];
            for (int i = 0; i < x.length; i++) x[i] = (float) (r.nextGaussian() * Math.pow(10, r.nextInt(-40, 38)));
            x[1] = Float.MAX_VALUE;
            if (n > 2) x[2] = -Float.MIN_VALUE;
            assertThat(FiniteCheck.allFinite(x, 1, 1 + n)).isTrue();
            assertThat(FiniteCheck.allFiniteScalar(x, 1, 1 + n)).isTrue();
            for (int at = 0; at < n; at++) {
                for (float s : specials) {
                    float[] y = x.clone();
                    y[1 + at] = s;
                    assertThat(FiniteCheck.allFinite(y, 1, 1 + n)).as("n %d at %d %s", n, at, s).isFalse();
                    assertThat(FiniteCheck.allFiniteScalar(y, 1, 1 + n)).isFalse();
                    assertThat(FiniteCheck.firstNonFinite(y, 1, 1 + n)).isEqualTo(1 + at);
                }
            }
            float[] outside = x.clone();
            outside[0] = Float.NaN;
            outside[n + 1] = Float.POSITIVE_INFINITY;
            assertThat(FiniteCheck.allFinite(outside, 1, 1 + n)).as("only [from, to) counts").isTrue();
        }
    }
}
