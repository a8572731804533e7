package dev.requant.cuda;

import static org.assertj.core.api.Assertions.assertThat;

import dev.requant.formats.ggml.BFloat16;
import java.lang.foreign.MemorySegment;
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

    /**
     * The pointer-array batched GEMM of MoE layers: matrices scattered in one buffer (as experts' rows and weights are),
     * a second call accumulating (the low input half), each against the double-precision reference.
     */
    @Test
    void pointerBatchedProductsMatchTheReference() throws CudaUnavailableException {
        CudaDevice d = CudaTestSupport.device();
        Random r = new Random(17);
        int batch = 5, m = 64, n = 96, k = 320;
        float[][] x = new float[batch][], x2 = new float[batch][], w = new float[batch][];
        for (int b = 0; b < batch; b++) {
            x[b] = rounded(CudaTestSupport.gaussian(r, m * k, 1));
            x2[b] = rounded(CudaTestSupport.gaussian(r, m * k, 0.01));
            w[b] = rounded(CudaTestSupport.gaussian(r, n * k, 0.05));
        }
        // in reverse order and with gaps, so that a stride could not describe them
        long xAt = 0, x2At = 2L * batch * (m * k + 8), wAt = 2 * x2At, yAt = wAt + 2L * batch * (n * k + 8);
        DeviceBuffer buf = d.allocate(yAt + 4L * batch * (m * n + 8)), table = d.allocate(8L * 4 * batch);
        try (CudaGemm gemm = new CudaGemm(d, d.defaultStream())) {
            long[] t = new long[4 * batch];
            for (int b = 0; b < batch; b++) {
                int slot = batch - 1 - b;
                long xo = xAt + 2L * slot * (m * k + 8), x2o = x2At + 2L * slot * (m * k + 8);
                long wo = wAt + 2L * slot * (n * k + 8), yo = yAt + 4L * slot * (m * n + 8);
                d.copyToDevice(bf16(x[b]), buf.slice(xo, 2L * m * k));
                d.copyToDevice(bf16(x2[b]), buf.slice(x2o, 2L * m * k));
                d.copyToDevice(bf16(w[b]), buf.slice(wo, 2L * n * k));
                t[b] = buf.address() + wo;
                t[batch + b] = buf.address() + xo;
                t[2 * batch + b] = buf.address() + x2o;
                t[3 * batch + b] = buf.address() + yo;
            }
            d.copyToDevice(MemorySegment.ofArray(t), table);
            gemm.bf16Pointers(table, 0, 8L * batch, 24L * batch, m, n, k, batch, false);
            gemm.bf16Pointers(table, 0, 16L * batch, 24L * batch, m, n, k, batch, true);
            double worst = 0;
            for (int b = 0; b < batch; b++) {
                double[] ref = reference(x[b], w[b], m, n, k), ref2 = reference(x2[b], w[b], m, n, k);
                for (int i = 0; i < ref.length; i++) ref[i] += ref2[i];
                int slot = batch - 1 - b;
                float[] y = d.floats(buf.slice(yAt + 4L * slot * (m * n + 8), 4L * m * n), m * n);
                double e = CudaTestSupport.relativeError(y, ref);
                assertThat(e).as("matrix %d", b).isLessThan(1e-4);
                worst = Math.max(worst, e);
            }
            CudaTestSupport.report("cublasGemmBatchedEx", "rel. error bf16->f32, 5 scattered matrices, accumulated", CudaTestSupport.sci(worst));
        } finally {
            d.free(buf);
            d.free(table);
        }
    }
}
