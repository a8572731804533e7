package dev.requant.cuda;

import static org.assertj.core.api.Assertions.assertThat;

import java.util.Random;
import org.junit.jupiter.api.Test;

class GeluKernelTest {
    static double gelu(double x) {
        return 0.5 * x * (1 + Math.tanh(0.7978845608028654 * (x + 0.044715 * x * x * x)));
    }

    @Test
    void gatedGeluOnAFusedGateUpOutput() {
        CudaDevice d = CudaTestSupport.device();
        CudaKernels k = CudaTestSupport.kernels();
        Random r = new Random(9);
        int rows = 33, cols = 1000;
        // [rows][gate | up], as one GEMM against the concatenated weights gives it; result written over gate.
        float[] gu = CudaTestSupport.gaussian(r, rows * 2 * cols, 3);
        gu[5] = 12f;
        gu[6] = -12f;
        gu[7] = 0f;
        double[] ref = new double[rows * cols];
        for (int i = 0; i < rows; i++) for (int j = 0; j < cols; j++) ref[i * cols + j] = gelu(gu[i * 2 * cols + j]) * gu[i * 2 * cols + cols + j];
        DeviceBuffer dg = d.allocate(4L * gu.length);
        try {
            d.copyToDevice(gu, dg);
            k.geluTanhMul(d.defaultStream(), dg, 2L * cols, dg.slice(4L * cols, dg.bytes() - 4L * cols), 2L * cols, dg, 2L * cols, rows, cols);
            float[] all = d.floats(dg, gu.length);
            float[] out = new float[rows * cols];
            for (int i = 0; i < rows; i++) System.arraycopy(all, i * 2 * cols, out, i * cols, cols);
            double err = CudaTestSupport.maxAbsError(out, ref);
            assertThat(err).isLessThan(1e-5 * 30);
            for (int i = 0; i < rows; i++) for (int j = 0; j < cols; j++) assertThat(all[i * 2 * cols + cols + j]).isEqualTo(gu[i * 2 * cols + cols + j]);
            CudaTestSupport.report("gelu_tanh_mul", "max abs error (|gate*up| up to ~40)", CudaTestSupport.sci(err));
        } finally {
            d.free(dg);
        }
    }

    @Test
    void geluAlone() {
        CudaDevice d = CudaTestSupport.device();
        CudaKernels k = CudaTestSupport.kernels();
        float[] x = CudaTestSupport.gaussian(new Random(10), 4097, 2);
        double[] ref = new double[x.length];
        for (int i = 0; i < x.length; i++) ref[i] = gelu(x[i]);
        DeviceBuffer dx = d.allocate(4L * x.length), dy = d.allocate(4L * x.length);
        try {
            d.copyToDevice(x, dx);
            k.geluTanhMul(d.defaultStream(), dx, x.length, null, 0, dy, x.length, 1, x.length);
            assertThat(CudaTestSupport.maxAbsError(d.floats(dy, x.length), ref)).isLessThan(2e-6);
        } finally {
            d.free(dx);
            d.free(dy);
        }
    }
}
