package dev.requant.cuda;

import static org.assertj.core.api.Assertions.assertThat;

import dev.requant.formats.ggml.BFloat16;
import java.util.Random;
import org.junit.jupiter.api.Test;

/** cuBLAS through FFM: y[m×n] = x[m×k] · wᵀ with w stored as GGUF stores weights (n rows of k). */
class GemmTest {
    static double[] reference(float[] x, float[] w, int m, int n, int k) {
        double[] y = new double[m * n];
        for (int i = 0; i < m; i++) {
            for (int j = 0; j < n; j++) {
                double s = 0;
                for (int l = 0; l < k; l++) s += (double) x[i * k + l] * w[j * k + l];
                y[i * n + j] = s;
            }
        }
        return y;
    }

    static short[] bf16(float[] v) {
        short[] b = new short[v.length];
        for (int i = 0; i < v.length; i++) b[i] = BFloat16.fromFloat(v[i]);
        return b;
    }

    static float[] rounded(float[] v) {
        float[] b = new float[v.length];
        for (int i = 0; i < v.length; i++) b[i] = BFloat16.round(v[i]);
        return b;
    }

    @Test
    void bf16AndF32ProductsMatchTheReference() throws CudaUnavailableException {
        CudaDevice d = CudaTestSupport.device();
        Random r = new Random(16);
        double worstF32out = 0, worstBf16out = 0, worstF32 = 0;
        try (CudaGemm gemm = new CudaGemm(d, d.defaultStream())) {
            int[][] shapes = {{1, 1, 1}, {37, 45, 64}, {128, 256, 2560}, {7, 1000, 333}};
            for (int[] sh : shapes) {
                int m = sh[0], n = sh[1], k = sh[2];
                float[] x = rounded(CudaTestSupport.gaussian(r, m * k, 1)), w = rounded(CudaTestSupport.gaussian(r, n * k, 0.05));
                double[] ref = reference(x, w, m, n, k);
                DeviceBuffer dx = d.allocate(4L * m * k), dw = d.allocate(4L * n * k), dy = d.allocate(4L * m * n);
                try {
                    d.copyToDevice(bf16(x), dx);
                    d.copyToDevice(bf16(w), dw);
                    d.fill32(dy, 0x7fc00001);
                    gemm.bf16(dx, dw, dy, m, n, k);
                    double e = CudaTestSupport.relativeError(d.floats(dy, m * n), ref);
                    assertThat(e).as("bf16 %s", java.util.Arrays.toString(sh)).isLessThan(1e-4);
                    worstF32out = Math.max(worstF32out, e);

                    gemm.bf16ToBf16(dx, dw, dy, m, n, k);
                    short[] yb = d.shorts(dy, m * n);
                    float[] yf = new float[m * n];
                    for (int i = 0; i < yf.length; i++) yf[i] = BFloat16.toFloat(yb[i]);
                    double eb = CudaTestSupport.relativeError(yf, ref);
                    assertThat(eb).isLessThan(5e-3);
                    worstBf16out = Math.max(worstBf16out, eb);

                    d.copyToDevice(x, dx);
                    d.copyToDevice(w, dw);
                    gemm.f32(dx, dw, dy, m, n, k);
                    double ef = CudaTestSupport.relativeError(d.floats(dy, m * n), ref);
                    assertThat(ef).isLessThan(1e-5);
                    worstF32 = Math.max(worstF32, ef);
                } finally {
                    d.free(dx);
                    d.free(dw);
                    d.free(dy);
                }
            }
            CudaTestSupport.report("cublasGemmEx", "rel. error bf16->f32 / bf16->bf16 / f32 (" + gemm.cublas().version() + ")",
                    CudaTestSupport.sci(worstF32out) + " / " + CudaTestSupport.sci(worstBf16out) + " / " + CudaTestSupport.sci(worstF32));
        }
    }
}
