package dev.requant.bench;

import dev.requant.formats.ggml.BlockCodec;
import dev.requant.formats.ggml.GgmlType;
import dev.requant.testmodels.LlamaCppGgml;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.SplittableRandom;

/**
 * Single-thread encode speed of a codec next to ggml's own quantizer (ggml_quantize_chunk of node-llama-cpp's
 * libggml-base, the code llama-quantize runs per chunk) on the same floats, with and without an imatrix, in
 * interleaved rounds: {@code CodecSpeed TYPE [MILLION_WEIGHTS] [ROUNDS] [ROW_LENGTH]} (rows of 2048 unless told). Weights are Gaussian rows with log-normal
 * row and column spreads and a tail of outliers; the importance is log-normal per column. Prints the best and the
 * median CPU ns per weight of each (thread CPU time, so that other load on a shared machine counts less) and the
 * ratio of the bests (requant / ggml); the bytes of both are checked equal.
 */
public final class CodecSpeed {
    private CodecSpeed() {}

    /** CPU time of this thread: on a shared machine, time stolen by other processes does not count against either. */
    private static final java.lang.management.ThreadMXBean CPU = java.lang.management.ManagementFactory.getThreadMXBean();

    public static void main(String[] args) {
        GgmlType type = GgmlType.byName(args[0]).orElseThrow(() -> new IllegalArgumentException("unknown type " + args[0]));
        double millions = args.length > 1 ? Double.parseDouble(args[1]) : 4;
        int rounds = args.length > 2 ? Integer.parseInt(args[2]) : 5;
        int n = args.length > 3 ? Integer.parseInt(args[3]) : 2048;
        int rows = (int) Math.max(1, millions * 1e6 / n);
        int perCall = Math.max(1, (1 << 18) / n);
        float[] x = weights(rows, n, 7);
        float[] w = new float[n];
        SplittableRandom r = new SplittableRandom(11);
        for (int i = 0; i < n; i++) w[i] = (float) Math.exp(1.5 * r.nextGaussian());
        LlamaCppGgml ggml = LlamaCppGgml.load();
        BlockCodec codec = BlockCodec.of(type);
        int rowBytes = (int) type.rowBytes(n);
        Arena arena = Arena.ofAuto();
        MemorySegment out = arena.allocate((long) rowBytes * rows, 64);
        MemorySegment src = arena.allocateFrom(ValueLayout.JAVA_FLOAT, x);
        MemorySegment theirOut = arena.allocate((long) rowBytes * rows, 64);
        MemorySegment nativeW = arena.allocateFrom(ValueLayout.JAVA_FLOAT, w);
        System.out.printf("%s: %d rows x %d, codec %s%n", type, rows, n, codec.getClass().getSimpleName());
        // IQ2_XXS, IQ2_XS and IQ1_S cannot be made without importance data (ggml asserts): imatrix rounds only
        for (float[] imp : codec.requiresImportance() ? new float[][] {w} : new float[][] {null, w}) {
            double[] ours = new double[rounds], theirs = new double[rounds];
            long allocated = ((com.sun.management.ThreadMXBean) CPU).getCurrentThreadAllocatedBytes();
            for (int round = 0; round < rounds; round++) {
                long t0 = CPU.getCurrentThreadCpuTime();
                // rows in runs of 256 K weights, as TensorEncoder hands a chunk to the codec
                for (int row = 0; row < rows; row += perCall) {
                    codec.encodeRows(x, row * n, n, Math.min(perCall, rows - row), imp, out, (long) row * rowBytes);
                }
                ours[round] = (CPU.getCurrentThreadCpuTime() - t0) / ((double) rows * n);
                t0 = CPU.getCurrentThreadCpuTime();
                ggml.quantize(type.id(), src, theirOut, rows, n, imp == null ? MemorySegment.NULL : nativeW);
                theirs[round] = (CPU.getCurrentThreadCpuTime() - t0) / ((double) rows * n);
                if (round == 0 && theirOut.mismatch(out) != -1) throw new AssertionError(type + ": requant's bytes differ from ggml's");
            }
            allocated = ((com.sun.management.ThreadMXBean) CPU).getCurrentThreadAllocatedBytes() - allocated;
            java.util.Arrays.sort(ours);
            java.util.Arrays.sort(theirs);
            System.out.printf("  %-9s requant best %6.2f median %6.2f ns/weight | ggml best %6.2f median %6.2f | ratio %.2f | heap %.1f B/weight%n",
                    imp == null ? "plain" : "imatrix", ours[0], ours[rounds / 2], theirs[0], theirs[rounds / 2], ours[0] / theirs[0],
                    allocated / ((double) rows * n * rounds));
        }
    }

    /** Rows of Gaussian weights with per-row and per-column log-normal spreads and 1 in 500 outliers (x8). */
    static float[] weights(int rows, int n, long seed) {
        SplittableRandom r = new SplittableRandom(seed);
        float[] col = new float[n];
        for (int j = 0; j < n; j++) col[j] = (float) Math.exp(0.5 * r.nextGaussian());
        float[] x = new float[rows * n];
        for (int i = 0; i < rows; i++) {
            double rowScale = 0.02 * Math.exp(0.5 * r.nextGaussian());
            for (int j = 0; j < n; j++) {
                double g = r.nextGaussian() * rowScale * col[j];
                if (r.nextInt(500) == 0) g *= 8;
                x[i * n + j] = (float) g;
            }
        }
        return x;
    }
}
