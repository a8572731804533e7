package dev.requant.cuda;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Random;

/**
 * cuBLAS BF16 GEMM throughput through our FFM binding, and the time of the imatrix accumulation and of the attention
 * kernel at one imatrix batch (2048 tokens = 4 chunks of 512). Device time from CUDA events around each call, after
 * warm-up; the median of the repetitions. Inputs are random (never zeros). Run by {@link GpuTestRunner}.
 */
final class GemmBenchmark {
    private GemmBenchmark() {}

    record Result(String what, double millis, String rate) {}

    static List<Result> run(CudaDevice d) throws CudaUnavailableException {
        List<Result> out = new ArrayList<>();
        Random r = new Random(1);
        CudaStream s = d.defaultStream();
        try (CudaGemm gemm = new CudaGemm(d, s)) {
            int[][] shapes = {{2048, 10240, 2560}, {2048, 2560, 10240}, {2048, 2560, 2560}, {2048, 15360, 3840}, {8192, 8192, 8192}};
            for (int[] sh : shapes) {
                int m = sh[0], n = sh[1], k = sh[2];
                DeviceBuffer x = randomBf16(d, r, (long) m * k), w = randomBf16(d, r, (long) n * k), y = d.allocate(4L * m * n);
                try {
                    double ms = median(d, s, 5, 20, () -> gemm.bf16(x, w, y, m, n, k));
                    double tf = 2.0 * m * n * k / (ms * 1e-3) / 1e12;
                    out.add(new Result(String.format("bf16 GEMM [%d x %d] x [%d x %d] -> f32", m, k, k, n), ms, String.format("%.0f TFLOP/s", tf)));
                } finally {
                    d.free(x);
                    d.free(w);
                    d.free(y);
                }
            }
        }
        CudaKernels k = CudaKernels.load(d);
        int rows = 2048, cols = 10240;
        DeviceBuffer x = d.allocate(4L * rows * cols), sums = d.allocate(4L * cols), bad = d.allocate(4);
        try {
            fillRandom(d, r, x, (long) rows * cols);
            d.zero(sums);
            d.copyToDevice(new int[] {Integer.MAX_VALUE}, bad);
            double ms = median(d, s, 3, 20, () -> k.imatrixDense(s, x, cols, rows, cols, sums, bad));
            out.add(new Result("imatrix_dense 2048 rows x 10240 cols", ms, String.format("%.0f GB/s", 4.0 * rows * cols / (ms * 1e-3) / 1e9)));
        } finally {
            d.free(x);
            d.free(sums);
            d.free(bad);
        }
        AttentionShape a = AttentionShape.packed(4, 512, 8, 4, 256, 0, 1f / 16);
        DeviceBuffer q = d.allocate(4L * 4 * a.qSeqStride()), kk = d.allocate(4L * 4 * a.kvSeqStride()),
                v = d.allocate(4L * 4 * a.kvSeqStride()), o = d.allocate(4L * 4 * a.oSeqStride());
        try {
            fillRandom(d, r, q, 4 * a.qSeqStride());
            fillRandom(d, r, kk, 4 * a.kvSeqStride());
            fillRandom(d, r, v, 4 * a.kvSeqStride());
            double ms = median(d, s, 2, 10, () -> k.attention(s, a, q, kk, v, o));
            double flops = 4.0 * 4 * 8 * 256 * (512.0 * 513 / 2); // QK and PV over the causal half
            out.add(new Result("attention 4 seq x 512 tok, 8/4 heads x 256", ms, String.format("%.1f TFLOP/s", flops / (ms * 1e-3) / 1e12)));
        } finally {
            for (DeviceBuffer b : new DeviceBuffer[] {q, kk, v, o}) d.free(b);
        }
        k.close();
        return out;
    }

    private static DeviceBuffer randomBf16(CudaDevice d, Random r, long n) {
        DeviceBuffer b = d.allocate(2 * n);
        short[] v = new short[(int) n];
        for (int i = 0; i < v.length; i++) v[i] = dev.requant.formats.ggml.BFloat16.fromFloat((float) r.nextGaussian());
        d.copyToDevice(v, b);
        return b;
    }

    private static void fillRandom(CudaDevice d, Random r, DeviceBuffer b, long n) {
        float[] v = new float[(int) n];
        for (int i = 0; i < v.length; i++) v[i] = (float) r.nextGaussian();
        d.copyToDevice(v, b);
    }

    private static double median(CudaDevice d, CudaStream s, int warmup, int reps, Runnable op) {
        for (int i = 0; i < warmup; i++) op.run();
        d.synchronize();
        double[] t = new double[reps];
        try (CudaEvent a = d.createEvent(); CudaEvent b = d.createEvent()) {
            for (int i = 0; i < reps; i++) {
                a.record(s);
                op.run();
                b.record(s);
                t[i] = b.millisSince(a);
            }
        }
        Arrays.sort(t);
        return t[reps / 2];
    }
}
