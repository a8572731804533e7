package dev.requant.cuda;

import static org.assertj.core.api.Assertions.assertThat;

import dev.requant.formats.imatrix.ImatrixAccumulator;
import java.util.Random;
import org.junit.jupiter.api.Test;

/** The GPU imatrix accumulator must give exactly the float32 sums of llama-imatrix's loop (ImatrixAccumulator). */
class ImatrixKernelTest {
    @Test
    void denseSumsAreBitIdenticalToTheScalarReference() {
        CudaDevice d = CudaTestSupport.device();
        CudaKernels k = CudaTestSupport.kernels();
        Random r = new Random(11);
        int[][] shapes = {{1, 1}, {7, 33}, {16, 256}, {512, 2560}, {513, 1031}, {100, 10240}};
        long checked = 0;
        for (int[] sh : shapes) {
            int rows = sh[0], cols = sh[1];
            float[] start = CudaTestSupport.gaussian(r, cols, 1);
            for (int j = 0; j < cols; j++) start[j] = Math.abs(start[j]) * 1000f; // a running sum from earlier batches
            float[] x = CudaTestSupport.gaussian(r, rows * cols, 3);
            x[r.nextInt(x.length)] = 1e-40f; // subnormal
            x[r.nextInt(x.length)] = -0.0f;
            ImatrixAccumulator ref = new ImatrixAccumulator(512);
            ref.addDense("w", new float[cols], 0, cols); // creates the entry with zero sums and count
            System.arraycopy(start, 0, ref.stats("w").values(), 0, cols);
            ref.addDense("w", x, rows, cols);

            DeviceBuffer dx = d.allocate(4L * x.length), ds = d.allocate(4L * cols), bad = d.allocate(4);
            try {
                d.copyToDevice(x, dx);
                d.copyToDevice(start, ds);
                d.copyToDevice(new int[] {Integer.MAX_VALUE}, bad);
                k.imatrixDense(d.defaultStream(), dx, cols, rows, cols, ds, bad);
                d.synchronize();
                assertThat(d.floats(ds, cols)).as("%d x %d", rows, cols).isEqualTo(ref.stats("w").values());
                assertThat(d.ints(bad, 1)).containsExactly(Integer.MAX_VALUE);
                checked += cols;
            } finally {
                d.free(dx);
                d.free(ds);
                d.free(bad);
            }
        }
        CudaTestSupport.report("imatrix_dense", "bit-identical columns (6 shapes, up to 513x10240)", String.valueOf(checked));
    }

    @Test
    void denseReadsAStridedSubmatrixAndFlagsOverflow() {
        CudaDevice d = CudaTestSupport.device();
        CudaKernels k = CudaTestSupport.kernels();
        int rows = 20, cols = 50, stride = 64;
        float[] x = new float[rows * stride];
        for (int i = 0; i < x.length; i++) x[i] = (i % stride) < cols ? 0.5f : Float.NaN; // padding must not be read
        x[3 * stride + 17] = 3e19f; // squares to 9e38, then the sum overflows to +inf
        x[4 * stride + 17] = 3e19f;
        x[5 * stride + 40] = 2e19f;
        x[6 * stride + 40] = 2e19f;
        DeviceBuffer dx = d.allocate(4L * x.length), ds = d.allocate(4L * cols), bad = d.allocate(4);
        try {
            d.copyToDevice(x, dx);
            d.zero(ds);
            d.copyToDevice(new int[] {Integer.MAX_VALUE}, bad);
            k.imatrixDense(d.defaultStream(), dx, stride, rows, cols, ds, bad);
            float[] s = d.floats(ds, cols);
            assertThat(s[0]).isEqualTo(20 * 0.25f);
            assertThat(s[17]).isInfinite();
            assertThat(s[40]).isInfinite(); // 2 x 4e38 > Float.MAX_VALUE
            assertThat(s[41]).isEqualTo(20 * 0.25f);
            assertThat(d.ints(bad, 1)).containsExactly(17);
        } finally {
            d.free(dx);
            d.free(ds);
            d.free(bad);
        }
    }

    @Test
    void expertSumsAndCountsMatchTheScalarReference() {
        CudaDevice d = CudaTestSupport.device();
        CudaKernels k = CudaTestSupport.kernels();
        Random r = new Random(5);
        for (int inputRows : new int[] {1, 4}) {
            int tokens = 300, slots = 4, experts = 16, cols = 96;
            float[] x = CudaTestSupport.gaussian(r, tokens * inputRows * cols, 2);
            int[] ids = new int[tokens * slots];
            for (int t = 0; t < tokens; t++) {
                // distinct experts per token, one expert (15) never chosen
                int first = r.nextInt(15);
                for (int s = 0; s < slots; s++) ids[t * slots + s] = (first + s * 3) % 15;
            }
            ImatrixAccumulator ref = new ImatrixAccumulator(512);
            ref.addExperts("e", x, tokens, inputRows, cols, ids, slots, experts);
            DeviceBuffer dx = d.allocate(4L * x.length), di = d.allocate(4L * ids.length), ds = d.allocate(4L * experts * cols),
                    dc = d.allocate(8L * experts), bad = d.allocate(4);
            try {
                d.copyToDevice(x, dx);
                d.copyToDevice(ids, di);
                d.zero(ds);
                d.zero(dc);
                d.copyToDevice(new int[] {Integer.MAX_VALUE}, bad);
                k.imatrixExperts(d.defaultStream(), dx, di, tokens, slots, inputRows, cols, experts, ds, dc, bad);
                assertThat(d.floats(ds, experts * cols)).isEqualTo(ref.stats("e").values());
                assertThat(d.longs(dc, experts)).isEqualTo(ref.stats("e").counts());
                assertThat(d.longs(dc, experts)[15]).isZero();
            } finally {
                for (DeviceBuffer b : new DeviceBuffer[] {dx, di, ds, dc, bad}) d.free(b);
            }
        }
        CudaTestSupport.report("imatrix_experts", "bit-identical sums+counts (300 tok, 16 exp)", "yes");
    }
}
