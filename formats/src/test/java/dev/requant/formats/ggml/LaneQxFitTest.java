package dev.requant.formats.ggml;

import static org.assertj.core.api.Assertions.assertThat;

import java.util.SplittableRandom;
import org.junit.jupiter.api.Test;

/** The interleaved make_qx_quants against the transliteration, to the bit, on groups of many shapes and scales. */
class LaneQxFitTest {
    @Test
    void sameScaleAndCodesAsMakeQxQuants() {
        SplittableRandom r = new SplittableRandom(20261206);
        for (int nmax : new int[] {4, 8, 16, 32}) {
            for (int n : new int[] {16, 32}) {
                LaneQxFit fit = new LaneQxFit(n);
                float[] x = new float[n];
                float[] qw = new float[n];
                byte[] expected = new byte[n], actual = new byte[n];
                for (int group = 0; group < 20_000; group++) {
                    double scale = Math.pow(10, r.nextInt(-20, 20));
                    int kind = group % 5;
                    for (int i = 0; i < n; i++) {
                        x[i] = switch (kind) {
                            case 0 -> (float) (r.nextGaussian() * scale);
                            case 1 -> (float) (r.nextInt(-40, 40) * scale / 8); // grid values: rounding ties
                            case 2 -> i == r.nextInt(n) ? (float) (50 * scale) : (float) (r.nextGaussian() * scale); // an outlier
                            case 3 -> r.nextInt(4) == 0 ? 0f : (float) (r.nextGaussian() * 1e-16); // below GROUP_MAX_EPS, or not
                            default -> (float) (r.nextGaussian() * scale) * (r.nextBoolean() ? 1 : -1);
                        };
                        qw[i] = r.nextInt(8) == 0 ? 0f : (float) Math.exp(2 * r.nextGaussian());
                    }
                    for (boolean weighted : new boolean[] {false, true}) {
                        for (int i = 0; i < n; i++) {
                            fit.w[i] = weighted ? qw[i] : x[i] * x[i];
                            fit.wx[i] = fit.w[i] * x[i];
                        }
                        float want = QuantFit.makeQxQuants(n, nmax, x, 0, expected, 0, 1, weighted ? qw : null, 0);
                        float got = fit.fit(n, nmax, x, 0, actual, 0);
                        // x^2 overflows for the largest groups: a NaN scale's sign may follow the operand order HotSpot picks
                        if (Float.isNaN(want)) {
                            assertThat(got).as("nmax %d n %d group %d weighted %s", nmax, n, group, weighted).isNaN();
                        } else {
                            assertThat(Float.floatToRawIntBits(got)).as("nmax %d n %d group %d weighted %s", nmax, n, group, weighted)
                                    .isEqualTo(Float.floatToRawIntBits(want));
                        }
                        assertThat(actual).as("nmax %d n %d group %d weighted %s", nmax, n, group, weighted).isEqualTo(expected);
                    }
                }
            }
        }
    }
}
