package dev.requant.runtime.cuda;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.within;

import dev.requant.cuda.CudaDevice;
import dev.requant.cuda.CudaKernels;
import dev.requant.cuda.DeviceBuffer;
import dev.requant.runtime.eval.FastTokenScores;
import dev.requant.runtime.eval.TokenScores;
import java.lang.foreign.MemorySegment;
import java.util.Random;
import org.junit.jupiter.api.Test;

/**
 * The eval kernels ({@code score_base}, {@code score_kld}, {@code suppress_tokens}) against their CPU reference,
 * {@link FastTokenScores}, on random logits rows of a Gemma-sized vocabulary (skipped without a GPU, with the reason).
 * The GPU's expf and reduction order differ from the CPU's, so values agree to rounding, arg-maxes exactly.
 */
class ScoreKernelsTest {
    @Test
    void scoresMatchFastTokenScores() throws Exception {
        try (CudaDevice d = CudaSessionImatrixTest.gpu(); CudaKernels k = CudaKernels.load(d)) {
            Random r = new Random(21);
            int rows = 7, n = 262_144;
            float[] base = new float[rows * n], cmp = new float[rows * n];
            int[] targets = new int[rows];
            for (int i = 0; i < rows * n; i++) {
                base[i] = (float) (r.nextGaussian() * 3);
                cmp[i] = base[i] + (float) (r.nextGaussian() * 0.3);
            }
            for (int i = 0; i < rows; i++) targets[i] = r.nextInt(n);
            base[3 * n + 17] = 40f; // one dominant token; a tie for the arg-max in row 4 (the first index wins)
            base[4 * n + 100] = 30f;
            base[4 * n + 90_000] = 30f;
            cmp[4 * n + 100] = 30f;
            cmp[4 * n + 200] = 30f;
            int[] suppress = {5, 262_143};
            for (int s : suppress) for (int i = 0; i < rows; i++) {
                base[i * n + s] = Float.NEGATIVE_INFINITY;
                cmp[i * n + s] = Float.NEGATIVE_INFINITY;
            }
            float[] baseRaw = base.clone(), cmpRaw = cmp.clone();
            for (int s : suppress) for (int i = 0; i < rows; i++) {
                baseRaw[i * n + s] = 1f; // the kernel must put the -inf back
                cmpRaw[i * n + s] = 2f;
            }

            DeviceBuffer lb = d.allocate(4L * rows * n), lc = d.allocate(4L * rows * n), lp = d.allocate(4L * rows * n),
                    t = d.allocate(4L * rows), sup = d.allocate(8), am = d.allocate(4L * rows), bn = d.allocate(4L * rows),
                    nll = d.allocate(4L * rows), nllx = d.allocate(8L * rows), nllb = d.allocate(4L * rows),
                    kld = d.allocate(8L * rows), pd = d.allocate(4L * rows), same = d.allocate(4L * rows);
            try {
                d.copyToDevice(baseRaw, lb);
                d.copyToDevice(cmpRaw, lc);
                d.copyToDevice(targets, t);
                d.copyToDevice(suppress, sup);
                k.suppressTokens(d.defaultStream(), lb, n, rows, sup, suppress.length);
                k.suppressTokens(d.defaultStream(), lc, n, rows, sup, suppress.length);
                assertThat(d.floats(lb, rows * n)).isEqualTo(base);
                k.scoreBase(d.defaultStream(), lb, rows, n, t, lp, am, bn, nll, nllx);
                k.scoreKld(d.defaultStream(), lc, rows, n, t, lp, am, bn, nll, nllb, kld, pd, same);
                d.synchronize();
                float[] gLogProb = d.floats(lp, rows * n), gNllBase = d.floats(bn, rows), gNll = d.floats(nll, rows),
                        gNllB = d.floats(nllb, rows), gPd = d.floats(pd, rows);
                int[] gArg = d.ints(am, rows), gSame = d.ints(same, rows);
                double[] gNllx = doubles(d, nllx, rows), gKld = doubles(d, kld, rows);
                double worstKld = 0;
                for (int i = 0; i < rows; i++) {
                    FastTokenScores.BaseRow b = new FastTokenScores.BaseRow(n);
                    b.setFromLogits(base, i * n, n, targets[i]);
                    TokenScores.TokenKld want = FastTokenScores.kld(cmp, i * n, n, b, targets[i]);
                    assertThat(gNllBase[i]).as("row %d base nll", i).isCloseTo(b.nll(), within(2e-5f * Math.max(1f, b.nll())));
                    assertThat(gNllx[i]).as("row %d exact nll", i).isCloseTo(b.nllExact(), within(1e-5 * Math.max(1, b.nllExact())));
                    assertThat(gNllB[i]).isEqualTo(gNllBase[i]);
                    for (int j = 0; j < n; j += 4099) {
                        // the CPU's log-prob is l - shift with shift = nll + l[target]
                        float cpuLp = base[i * n + j] - (b.nll() + base[i * n + targets[i]]);
                        if (Float.isInfinite(base[i * n + j])) assertThat(gLogProb[i * n + j]).isEqualTo(Float.NEGATIVE_INFINITY);
                        else assertThat(gLogProb[i * n + j]).isCloseTo(cpuLp, within(1e-4f * Math.max(1f, Math.abs(cpuLp))));
                    }
                    assertThat(gNll[i]).as("row %d nll", i).isCloseTo(want.nll(), within(2e-5f * Math.max(1f, want.nll())));
                    assertThat(gPd[i]).as("row %d Δp", i).isCloseTo(want.pDiff(), within(1e-6f));
                    assertThat(gSame[i] != 0).as("row %d same top", i).isEqualTo(want.sameTop());
                    double rel = Math.abs(gKld[i] - want.kld()) / want.kld();
                    worstKld = Math.max(worstKld, rel);
                    assertThat(rel).as("row %d KLD %g vs %g", i, gKld[i], want.kld()).isLessThan(1e-4);
                }
                assertThat(gArg[3]).isEqualTo(17);
                assertThat(gArg[4]).isEqualTo(100);
                assertThat(gSame[4]).isEqualTo(1);
                System.out.printf("REPORT score kernels   7 rows x 262144: nll, KLD (worst rel. %.1e), Δp, arg-max vs FastTokenScores%n", worstKld);
            } finally {
                for (DeviceBuffer b : new DeviceBuffer[] {lb, lc, lp, t, sup, am, bn, nll, nllx, nllb, kld, pd, same}) d.free(b);
            }
        }
    }

    private static double[] doubles(CudaDevice d, DeviceBuffer b, int n) {
        double[] out = new double[n];
        d.copyToHost(b.slice(0, 8L * n), MemorySegment.ofArray(out));
        return out;
    }
}
