package dev.requant.runtime.cpu;

import dev.requant.formats.model.GgufModelSource;
import dev.requant.formats.model.ModelSource;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.SplittableRandom;

/**
 * Prompt-processing speed of the CPU backend, measured the way llama-bench's {@code -p N} measures it: one batch of N
 * random tokens from an empty cache, logits for the last token only. Used by bench/forward.sh (BENCHMARKS.md, "CPU
 * forward pass").
 *
 * <pre>java --add-modules jdk.incubator.vector -cp ... dev.requant.runtime.cpu.PromptBenchmark MODEL.gguf [N=512] [THREADS=2] [REPEATS=5]</pre>
 */
public final class PromptBenchmark {
    private PromptBenchmark() {}

    public static void main(String[] args) throws Exception {
        if (args.length < 1) {
            System.err.println("usage: PromptBenchmark MODEL.gguf [N=512] [THREADS=2] [REPEATS=5]");
            System.exit(2);
        }
        Path path = Path.of(args[0]);
        int n = args.length > 1 ? Integer.parseInt(args[1]) : 512;
        int threads = args.length > 2 ? Integer.parseInt(args[2]) : 2;
        int repeats = args.length > 3 ? Integer.parseInt(args[3]) : 5;
        try (ModelSource src = GgufModelSource.open(path); CpuModel model = CpuModel.load(src, threads)) {
            int[] tokens = new SplittableRandom(1).ints(n, 0, model.config().nVocab()).toArray();
            CpuSession s = model.newSession(n);
            float[] sink = new float[1];
            // one untimed run: JIT compilation and page-cache faults of the mapping
            run(s, tokens, sink);
            double[] tps = new double[repeats];
            double[] perCpu = new double[repeats];
            var os = (com.sun.management.OperatingSystemMXBean) java.lang.management.ManagementFactory.getOperatingSystemMXBean();
            for (int r = 0; r < repeats; r++) {
                long c0 = os.getProcessCpuTime();
                long t0 = System.nanoTime();
                run(s, tokens, sink);
                tps[r] = n / ((System.nanoTime() - t0) / 1e9);
                perCpu[r] = n / ((os.getProcessCpuTime() - c0) / 1e9);
                System.err.printf("run %d: %.1f tokens/s, %.1f tokens per CPU-second%n", r + 1, tps[r], perCpu[r]);
            }
            Arrays.sort(tps);
            Arrays.sort(perCpu);
            // tokens per CPU-second (process CPU time, all threads): the cost, robust to other load on a shared machine
            System.out.printf("%s pp%d threads=%d: best %.1f tokens/s, median %.1f tokens/s, %.1f tokens per CPU-second (%d runs)%n",
                    path.getFileName(), n, threads, tps[repeats - 1], tps[repeats / 2], perCpu[repeats - 1], repeats);
        }
    }

    private static void run(CpuSession s, int[] tokens, float[] sink) {
        s.clear();
        s.decode(tokens, 0, tokens.length, r -> r == tokens.length - 1, (row, l, off) -> sink[0] += l[off]);
    }
}
