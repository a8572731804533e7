package dev.requant.bench;

import dev.requant.converter.qat.LatticeQ4_0Codec;
import dev.requant.converter.qat.StoredPrecision;
import dev.requant.formats.ggml.BFloat16;
import dev.requant.formats.ggml.BlockCodec;
import dev.requant.formats.ggml.GgmlType;
import dev.requant.testmodels.QatWeights;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.util.SplittableRandom;

/**
 * Single-thread speed of the QAT lattice encoder per scale rule, beside llama.cpp's Q4_0 rule on the same floats
 * (BENCHMARKS.md, "Speed of the lattice search"). Rows of 1,152 BF16-valued weights from {@link QatWeights}; each
 * encoder runs the whole set several times and the best pass counts (the first one includes the JIT's warm-up, which
 * is printed separately because a short conversion pays it).
 *
 * <pre>LatticeSpeed [MILLION_WEIGHTS] [RULE...]   RULE: MAX_NEG8 ABSMAX_7 LEARNED NONE</pre>
 */
public final class LatticeSpeed {
    private LatticeSpeed() {}

    public static void main(String[] args) {
        int n = 1152;
        int rows = (int) Math.max(1, (args.length > 0 ? Double.parseDouble(args[0]) : 9.4) * 1e6 / n);
        String[] rules = args.length > 1 ? java.util.Arrays.copyOfRange(args, 1, args.length)
                : new String[] {"MAX_NEG8", "ABSMAX_7", "LEARNED", "NONE"};
        float[] x = new float[n * rows];
        MemorySegment dst = Arena.global().allocate((long) rows * (n / 32) * 18, 64);
        System.out.printf("%,d weights per pass, one thread%n", x.length);
        System.out.println("rule       lattice M/s  (first pass)  exact    llama.cpp rule M/s");
        for (String name : rules) {
            QatWeights.ScaleRule rule = QatWeights.ScaleRule.valueOf(name);
            SplittableRandom r = new SplittableRandom(1);
            for (int b = 0; b < x.length / 32; b++) {
                if (rule == QatWeights.ScaleRule.NONE) {
                    for (int i = 0; i < 32; i++) x[b * 32 + i] = BFloat16.round((float) r.nextGaussian() * 0.02f);
                } else {
                    QatWeights.block(r, rule, QatWeights.ScaleDtype.BF16, 0.02f, null, x, b * 32);
                }
            }
            LatticeQ4_0Codec lattice = new LatticeQ4_0Codec(StoredPrecision.BF16);
            double[] l = passes(lattice, x, n, rows, dst);
            double[] plain = passes(BlockCodec.of(GgmlType.Q4_0), x, n, rows, dst);
            System.out.printf("%-10s %8.0f     (%6.0f)      %.4f   %8.0f%n", name, l[0], l[1],
                    lattice.stats().exactFraction(), plain[0]);
        }
    }

    /** {best M weights/s, first pass M weights/s} over 5 passes. */
    private static double[] passes(BlockCodec codec, float[] x, int n, int rows, MemorySegment dst) {
        double best = 0, first = 0;
        for (int pass = 0; pass < 5; pass++) {
            long t0 = System.nanoTime();
            for (int i = 0; i < rows; i++) codec.encodeRow(x, i * n, n, null, dst, (long) i * (n / 32) * 18);
            double rate = x.length / ((System.nanoTime() - t0) / 1e3);
            if (pass == 0) first = rate;
            best = Math.max(best, rate);
        }
        return new double[] {best, first};
    }
}
