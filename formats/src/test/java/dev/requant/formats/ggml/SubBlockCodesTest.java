package dev.requant.formats.ggml;

import static org.assertj.core.api.Assertions.assertThat;

import java.util.SplittableRandom;
import org.junit.jupiter.api.Test;

/** {@link SubBlockCodes#requantize} against ggml's loop as Q3_K and Q6_K write it, on both of its paths. */
class SubBlockCodesTest {
    @Test
    void codesAreGgmlsOnEveryPath() {
        SplittableRandom r = new SplittableRandom(17);
        float[] specials = {0f, -0f, Float.NaN, Float.POSITIVE_INFINITY, Float.NEGATIVE_INFINITY, 1e-30f, Float.MIN_VALUE};
        for (int c = 0; c < 4000; c++) {
            int nmax = c % 2 == 0 ? 4 : 32;
            float[] x = BlockCodecContract.weights(r, 256, 0.02);
            float[] d = new float[16];
            for (int j = 0; j < 16; j++) d[j] = (float) (r.nextDouble(0.5, 1.5) * 0.02 / nmax) * (r.nextBoolean() ? 1 : -1);
            switch (c % 5) {
                case 1 -> d[r.nextInt(16)] = specials[r.nextInt(specials.length)];
                case 2 -> x[r.nextInt(256)] = (float) (r.nextBoolean() ? 1e6 : -1e6) * (1 << r.nextInt(10)); // quotients past 2^22
                case 3 -> x[r.nextInt(256)] = r.nextBoolean() ? 0f : -0f;
                default -> { }
            }
            byte[] L = new byte[260], ref = new byte[260];
            for (int i = 0; i < L.length; i++) L[i] = ref[i] = (byte) r.nextInt(2 * nmax);
            SubBlockCodes.requantize(x, 0, d, nmax, L, 2, null, 0);
            for (int j = 0; j < 16; ++j) {
                if (d[j] == 0) continue;
                for (int ii = 0; ii < 16; ++ii) {
                    int l = Rounding.nearestInt(x[16 * j + ii] / d[j]);
                    ref[2 + 16 * j + ii] = (byte) (Math.max(-nmax, Math.min(nmax - 1, l)) + nmax);
                }
            }
            assertThat(L).as("case %d", c).isEqualTo(ref);
        }
    }
}
