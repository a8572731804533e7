package dev.requant.cuda;

import static org.assertj.core.api.Assertions.assertThat;

import dev.requant.formats.ggml.BFloat16;
import java.util.Random;
import org.junit.jupiter.api.Test;

class ElementwiseKernelTest {
    @Test
    void f32ToBf16RoundsLikeGgml() {
        CudaDevice d = CudaTestSupport.device();
        CudaKernels k = CudaTestSupport.kernels();
        Random r = new Random(14);
        float[] special = {0f, -0f, 1f, Float.MIN_VALUE, -Float.MIN_VALUE, Float.MIN_NORMAL, Float.MAX_VALUE,
            Float.POSITIVE_INFINITY, Float.NEGATIVE_INFINITY, Float.NaN, Float.intBitsToFloat(0x7f800001),
            Float.intBitsToFloat(0xffc00001), Float.intBitsToFloat(0x3f808000), Float.intBitsToFloat(0x3f818000),
            Float.intBitsToFloat(0x3f80ffff), Float.intBitsToFloat(0x7f7fffff), Float.intBitsToFloat(0x00018000)};
        int n = 100_003;
        float[] x = new float[n];
        for (int i = 0; i < n; i++) x[i] = i < special.length ? special[i] : Float.intBitsToFloat(r.nextInt());
        DeviceBuffer dx = d.allocate(4L * n), dy = d.allocate(2L * n);
        try {
            d.copyToDevice(x, dx);
            k.f32ToBf16(d.defaultStream(), dx, dy, n);
            short[] y = d.shorts(dy, n);
            for (int i = 0; i < n; i++) assertThat(y[i]).as("bits %08x", Float.floatToRawIntBits(x[i])).isEqualTo(BFloat16.fromFloat(x[i]));
        } finally {
            d.free(dx);
            d.free(dy);
        }
        CudaTestSupport.report("f32_to_bf16", "100003 values incl. NaN/Inf/subnormal/ties", "bit-exact");
    }

    @Test
    void addScaleAndSoftcap() {
        CudaDevice d = CudaTestSupport.device();
        CudaKernels k = CudaTestSupport.kernels();
        Random r = new Random(15);
        int n = 5000;
        float[] y = CudaTestSupport.gaussian(r, n, 20), x = CudaTestSupport.gaussian(r, n, 20);
        DeviceBuffer dy = d.allocate(4L * n), dx = d.allocate(4L * n);
        try {
            d.copyToDevice(y, dy);
            d.copyToDevice(x, dx);
            k.add(d.defaultStream(), dy, dx, n);
            k.scale(d.defaultStream(), dy, 0.5f, n);
            float[] got = d.floats(dy, n);
            for (int i = 0; i < n; i++) assertThat(got[i]).isEqualTo((y[i] + x[i]) * 0.5f);
            k.softcap(d.defaultStream(), dy, 30f, n);
            float[] capped = d.floats(dy, n);
            double worst = 0;
            for (int i = 0; i < n; i++) {
                double want = 30 * Math.tanh(got[i] / 30.0);
                worst = Math.max(worst, Math.abs(capped[i] - want));
                assertThat(Math.abs(capped[i])).isLessThanOrEqualTo(30f);
            }
            assertThat(worst).isLessThan(1e-5);
        } finally {
            d.free(dy);
            d.free(dx);
        }
    }
}
