package dev.requant.cuda;

import static org.assertj.core.api.Assertions.assertThat;

import java.util.Random;
import org.junit.jupiter.api.Test;

class RopeKernelTest {
    /**
     * NEOX rope in double, from theta = freq_scale * pos * base^(-2i/n_rot) / ff[i] formed in float the way ggml-cuda
     * forms it (theta_scale = powf(base, -2/n_rot) rounded to float, then pos * theta_scale^i).
     */
    static double[] reference(float[] x, int[] pos, int tokens, int heads, int dim, int nRot, float base, float scale, float[] ff) {
        double[] y = new double[x.length];
        for (int i = 0; i < x.length; i++) y[i] = x[i];
        int half = nRot / 2;
        for (int t = 0; t < tokens; t++) {
            for (int h = 0; h < heads; h++) {
                int o = (t * heads + h) * dim;
                for (int i = 0; i < half; i++) {
                    float thetaScale = (float) Math.pow(base, -2.0 / nRot);
                    float theta = (float) (pos[t] * (double) (float) Math.pow(thetaScale, i));
                    if (ff != null) theta /= ff[i];
                    theta *= scale;
                    double x0 = x[o + i], x1 = x[o + i + half];
                    y[o + i] = x0 * Math.cos(theta) - x1 * Math.sin(theta);
                    y[o + i + half] = x0 * Math.sin(theta) + x1 * Math.cos(theta);
                }
            }
        }
        return y;
    }

    private static float[] run(CudaDevice d, CudaKernels k, float[] x, int[] pos, int tokens, int heads, int dim, int nRot,
                               float base, float scale, float[] ff) {
        DeviceBuffer dx = d.allocate(4L * x.length), dp = d.allocate(4L * pos.length), df = ff == null ? null : d.allocate(4L * ff.length);
        try {
            d.copyToDevice(x, dx);
            d.copyToDevice(pos, dp);
            if (ff != null) d.copyToDevice(ff, df);
            k.ropeNeox(d.defaultStream(), dx, (long) heads * dim, dp, tokens, heads, dim, nRot, base, scale, df);
            return d.floats(dx, x.length);
        } finally {
            d.free(dx);
            d.free(dp);
            if (df != null) d.free(df);
        }
    }

    @Test
    void fullRotationMatchesTheReference() {
        CudaDevice d = CudaTestSupport.device();
        CudaKernels k = CudaTestSupport.kernels();
        Random r = new Random(3);
        int tokens = 300, heads = 4, dim = 256;
        float[] x = CudaTestSupport.gaussian(r, tokens * heads * dim, 1);
        int[] pos = new int[tokens];
        for (int t = 0; t < tokens; t++) pos[t] = t < 150 ? t : 4000 + t; // early positions and late ones
        float[] y = run(d, k, x, pos, tokens, heads, dim, dim, 10000f, 1f, null);
        double[] ref = reference(x, pos, tokens, heads, dim, dim, 10000f, 1f, null);
        double early = 0, late = 0;
        for (int t = 0; t < tokens; t++) {
            for (int i = 0; i < heads * dim; i++) {
                int j = t * heads * dim + i;
                double e = Math.abs(y[j] - ref[j]);
                if (t < 150) early = Math.max(early, e);
                else late = Math.max(late, e);
            }
        }
        // theta is a float: its last-bit differences grow with the position (pos 4299: ~5e-4 rad).
        assertThat(early).isLessThan(2e-4);
        assertThat(late).isLessThan(1e-2);
        CudaTestSupport.report("rope_neox", "max abs error pos<150 / pos~4000 (|x|~1)", CudaTestSupport.sci(early) + " / " + CudaTestSupport.sci(late));
    }

    @Test
    void partialRotationWithFreqFactorsLikeGemma4ProportionalRope() {
        CudaDevice d = CudaTestSupport.device();
        CudaKernels k = CudaTestSupport.kernels();
        Random r = new Random(4);
        int tokens = 40, heads = 2, dim = 512, nRot = 512;
        // rope_freqs: 1.0 for the first 64 pairs, 1e30 (no rotation) for the other 192
        float[] ff = new float[nRot / 2];
        for (int i = 0; i < ff.length; i++) ff[i] = i < 64 ? 1f : 1e30f;
        float[] x = CudaTestSupport.gaussian(r, tokens * heads * dim, 1);
        int[] pos = new int[tokens];
        for (int t = 0; t < tokens; t++) pos[t] = 3 * t;
        float[] y = run(d, k, x, pos, tokens, heads, dim, nRot, 1_000_000f, 1f, ff);
        double[] ref = reference(x, pos, tokens, heads, dim, nRot, 1_000_000f, 1f, ff);
        assertThat(CudaTestSupport.maxAbsError(y, ref)).isLessThan(2e-4);
        for (int t = 0; t < tokens; t++) {
            for (int h = 0; h < heads; h++) {
                int o = (t * heads + h) * dim;
                for (int i = 64; i < 256; i++) {
                    assertThat(y[o + i]).isEqualTo(x[o + i]);
                    assertThat(y[o + 256 + i]).isEqualTo(x[o + 256 + i]);
                }
            }
        }
        // n_rot < head_dim: dims past n_rot pass through untouched; freq_scale applies to theta.
        int dim2 = 128, rot2 = 64;
        float[] x2 = CudaTestSupport.gaussian(r, tokens * dim2, 1);
        float[] y2 = run(d, k, x2, pos, tokens, 1, dim2, rot2, 10000f, 0.125f, null);
        assertThat(CudaTestSupport.maxAbsError(y2, reference(x2, pos, tokens, 1, dim2, rot2, 10000f, 0.125f, null))).isLessThan(2e-4);
        for (int t = 0; t < tokens; t++) for (int i = rot2; i < dim2; i++) assertThat(y2[t * dim2 + i]).isEqualTo(x2[t * dim2 + i]);
    }
}
