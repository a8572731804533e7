package dev.requant.cuda;

import static org.assertj.core.api.Assertions.assertThat;

import java.util.Random;
import org.junit.jupiter.api.Test;

class RmsNormKernelTest {
    /** Scalar reference in double: x / sqrt(mean(x²) + eps) * w. */
    static double[] reference(float[] x, float[] w, int rows, int n, float eps) {
        double[] y = new double[rows * n];
        for (int r = 0; r < rows; r++) {
            double s = 0;
            for (int i = 0; i < n; i++) s += (double) x[r * n + i] * x[r * n + i];
            double scale = 1.0 / Math.sqrt(s / n + eps);
            for (int i = 0; i < n; i++) y[r * n + i] = x[r * n + i] * scale * (w == null ? 1.0 : w[i]);
        }
        return y;
    }

    @Test
    void matchesTheReferenceWithAndWithoutWeight() {
        CudaDevice d = CudaTestSupport.device();
        CudaKernels k = CudaTestSupport.kernels();
        Random r = new Random(1);
        double worst = 0;
        int[][] shapes = {{1, 1}, {3, 255}, {64, 256}, {17, 2560}, {5, 5376}, {1000, 64}};
        for (int[] sh : shapes) {
            for (boolean weighted : new boolean[] {true, false}) {
                int rows = sh[0], n = sh[1];
                float[] x = CudaTestSupport.gaussian(r, rows * n, 4);
                float[] w = weighted ? CudaTestSupport.gaussian(r, n, 1) : null;
                DeviceBuffer dx = d.allocate(4L * x.length), dy = d.allocate(4L * x.length), dw = weighted ? d.allocate(4L * n) : null;
                try {
                    d.copyToDevice(x, dx);
                    if (weighted) d.copyToDevice(w, dw);
                    d.fill32(dy, Float.floatToRawIntBits(Float.NaN));
                    k.rmsNorm(d.defaultStream(), dx, n, dw, dy, n, rows, n, 1e-6f);
                    float[] y = d.floats(dy, x.length);
                    double err = CudaTestSupport.relativeError(y, reference(x, w, rows, n, 1e-6f));
                    assertThat(err).as("%d x %d weighted=%s", rows, n, weighted).isLessThan(1e-6);
                    worst = Math.max(worst, err);
                } finally {
                    d.free(dx);
                    d.free(dy);
                    if (dw != null) d.free(dw);
                }
            }
        }
        CudaTestSupport.report("rms_norm", "rel. error, 6 shapes x (w, no w)", CudaTestSupport.sci(worst));
    }

    @Test
    void stridedRowsInPlace() {
        CudaDevice d = CudaTestSupport.device();
        CudaKernels k = CudaTestSupport.kernels();
        int rows = 8, n = 100, stride = 128;
        float[] x = CudaTestSupport.gaussian(new Random(2), rows * stride, 1);
        float[] packed = new float[rows * n];
        for (int r = 0; r < rows; r++) System.arraycopy(x, r * stride, packed, r * n, n);
        double[] ref = reference(packed, null, rows, n, 1e-5f);
        DeviceBuffer dx = d.allocate(4L * x.length);
        try {
            d.copyToDevice(x, dx);
            k.rmsNorm(d.defaultStream(), dx, stride, null, dx, stride, rows, n, 1e-5f);
            float[] y = d.floats(dx, x.length);
            for (int r = 0; r < rows; r++) {
                for (int i = 0; i < stride; i++) {
                    if (i < n) assertThat((double) y[r * stride + i]).isCloseTo(ref[r * n + i], org.assertj.core.data.Offset.offset(1e-5));
                    else assertThat(y[r * stride + i]).isEqualTo(x[r * stride + i]); // padding untouched
                }
            }
        } finally {
            d.free(dx);
        }
    }
}
