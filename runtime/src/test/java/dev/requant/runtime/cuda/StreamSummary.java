package dev.requant.runtime.cuda;

import java.util.Arrays;
import java.util.Locale;

/**
 * The one line per benchmark run that bench/session-gpu.sh's {@code stream} step collects: the weights' placement,
 * tokens/s, peak GPU memory, the host-to-GPU rate the streamed layers needed, and a checksum of a result (imatrix
 * sums, or the PPL) that must be equal between the resident and the streamed run.
 */
final class StreamSummary {
    private StreamSummary() {}

    static void print(String pass, CudaSession s, int tokensPerBatch, double secondsPerBatch, float[] result) {
        double[] d = new double[result.length];
        for (int i = 0; i < d.length; i++) d[i] = result[i];
        print(pass, s, tokensPerBatch, secondsPerBatch, d);
    }

    static void print(String pass, CudaSession s, int tokensPerBatch, double secondsPerBatch, double[] result) {
        long bytes = s.streamedBytesPerBatch();
        System.out.printf(Locale.ROOT, "STREAM | %s | %s | %.0f tokens/s | peak GPU %.2f GiB | %s | result %s |%n", pass,
                s.streamedLayers() == 0 ? "resident" : s.streamedLayers() + " of " + s.config().nLayer() + " layers streamed",
                tokensPerBatch / secondsPerBatch, s.peakDeviceBytes() / (double) (1L << 30),
                bytes == 0 ? "no uploads" : String.format(Locale.ROOT, "%.2f GiB/batch = %.1f GB/s", bytes / (double) (1L << 30),
                        bytes / secondsPerBatch / 1e9),
                Integer.toHexString(Arrays.hashCode(result)) + (result.length == 1 ? " (" + result[0] + ")" : ""));
    }
}
