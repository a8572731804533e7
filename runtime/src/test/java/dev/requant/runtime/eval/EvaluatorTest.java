package dev.requant.runtime.eval;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.assertj.core.data.Offset.offset;

import dev.requant.formats.ggml.GgmlType;
import dev.requant.formats.model.ModelSource;
import dev.requant.runtime.TinyGemma;
import dev.requant.runtime.SessionSpec;
import dev.requant.runtime.cpu.CpuForwardSession;
import dev.requant.runtime.cpu.CpuModel;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.SplittableRandom;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * eval against llama-perplexity's definitions, recomputed here independently in double precision from the logits of
 * whole-chunk runs: chunking with BOS in front, second-half scoring, PPL and its error, ln(PPL ratio) with the
 * covariance term, KLD mean/uncertainty/percentiles, Δp, same-top; and for a saved base file, the 16-bit records
 * with the -16 floor.
 */
class EvaluatorTest {
    static final int N_CTX = 32, BOS = 2;

    /** A CPU session of the test's chunk size on a model (the model stays open). */
    static Evaluator.Model cpu(String name, CpuModel m) {
        return new Evaluator.Model(name, new CpuForwardSession(m, SessionSpec.eval(N_CTX, 1, N_CTX, null), false));
    }

    @TempDir Path dir;

    @Test
    void modelReferenceAndFileReferenceFollowLlamaPerplexity() throws Exception {
        TinyGemma spec = tame(TinyGemma.gemma3());
        TinyGemma q8 = tame(TinyGemma.gemma3().type(GgmlType.Q8_0));
        TinyGemma q4 = tame(TinyGemma.gemma3().type(GgmlType.Q4_0));
        int[] tokens = new int[N_CTX * 7 + 11]; // 7 chunks and a partial one that is dropped
        SplittableRandom r = new SplittableRandom(3);
        for (int i = 0; i < tokens.length; i++) tokens[i] = r.nextInt(spec.nVocab);
        try (ModelSource bs = spec.build(); ModelSource s8 = q8.build(); ModelSource s4 = q4.build();
             CpuModel base = CpuModel.load(bs, 2); CpuModel m8 = CpuModel.load(s8, 2); CpuModel m4 = CpuModel.load(s4, 2)) {
            List<Evaluator.Model> compares = List.of(cpu("q8_0", m8), cpu("q4_0", m4));
            Path file = dir.resolve("base.kld");
            List<String> progress = new ArrayList<>();
            EvalResult res;
            try (LogitsFile.Writer w = new LogitsFile.Writer(file, N_CTX, spec.nVocab, 7, tokens)) {
                res = Evaluator.run(new Evaluator.ModelReference(cpu("f32", base), w), compares, tokens,
                        new Evaluator.Settings(N_CTX, -1, BOS), (m, c, n) -> progress.add(m + "@" + c + ":" + n));
                w.commit();
            }
            assertThat(res.nChunk()).isEqualTo(7);
            assertThat(res.scoredTokens()).isEqualTo(7 * 15);
            assertThat(progress).hasSize(21).startsWith("f32@0:32", "q8_0@0:32", "q4_0@0:32");

            // independent recomputation from full-chunk logits
            List<double[][]> baseRows = new ArrayList<>(), q8Rows = new ArrayList<>(), q4Rows = new ArrayList<>();
            List<Integer> targets = new ArrayList<>();
            for (int c = 0; c < 7; c++) {
                int[] chunk = Arrays.copyOfRange(tokens, c * N_CTX, (c + 1) * N_CTX);
                chunk[0] = BOS;
                float[] lb = base.newSession(N_CTX).logits(chunk);
                float[] l8 = m8.newSession(N_CTX).logits(chunk);
                float[] l4 = m4.newSession(N_CTX).logits(chunk);
                for (int p = N_CTX / 2; p <= N_CTX - 2; p++) {
                    targets.add(tokens[c * N_CTX + p + 1]);
                    baseRows.add(new double[][] {row(lb, p, spec.nVocab)});
                    q8Rows.add(new double[][] {row(l8, p, spec.nVocab)});
                    q4Rows.add(new double[][] {row(l4, p, spec.nVocab)});
                }
            }
            Expected e8 = expected(baseRows, q8Rows, targets, false);
            Expected e4 = expected(baseRows, q4Rows, targets, false);
            check(res.compared().get(0).report(), e8);
            check(res.compared().get(1).report(), e4);
            double[] basePpl = e8.basePplFinalEstimate;
            assertThat(res.referencePpl().value()).isCloseTo(basePpl[0], offset(1e-6 * basePpl[0]));
            assertThat(res.referencePpl().uncertainty()).isCloseTo(basePpl[1], offset(1e-5 * basePpl[1]));
            assertThat(res.compared().get(0).report().kld().value()).as("Q8_0 is closer to the reference than Q4_0")
                    .isLessThan(res.compared().get(1).report().kld().value());

            // the saved file: the header, the records, and a compare run against it
            byte[] bytes = Files.readAllBytes(file);
            ByteBuffer b = ByteBuffer.wrap(bytes).order(ByteOrder.LITTLE_ENDIAN);
            int words = TokenScores.recordWords(spec.nVocab);
            long recBase = 20 + 4L * N_CTX * 7;
            List<double[][]> fileRows = new ArrayList<>();
            int clamped = 0;
            for (int i = 0; i < 7 * 15; i++) {
                long o = recBase + 2L * words * i;
                float scale = b.getFloat((int) o), min = b.getFloat((int) o + 4);
                double[] lp = new double[spec.nVocab];
                double[] exact = logSoftmax(baseRows.get(i)[0]);
                double max = Arrays.stream(exact).max().orElseThrow();
                for (int v = 0; v < spec.nVocab; v++) {
                    lp[v] = scale * (b.getShort((int) o + 8 + 2 * v) & 0xFFFF) + min;
                    if (exact[v] < max - 16) clamped++;
                    // within half a step of the exact log-prob, or clamped at max - 16
                    assertThat(lp[v]).isCloseTo(Math.max(exact[v], max - 16), offset(scale * 0.51 + 1e-4));
                }
                fileRows.add(new double[][] {lp});
            }
            assertThat(clamped).as("log-probs below the floor").isGreaterThan(100);
            EvalResult fromFile;
            try (LogitsFile lf = LogitsFile.open(file)) {
                fromFile = Evaluator.run(new Evaluator.FileReference("base.kld", lf), compares, null,
                        new Evaluator.Settings(512, -1, BOS), (m, c, n) -> {});
            }
            assertThat(fromFile.referenceFromFile()).isTrue();
            assertThat(fromFile.nCtx()).isEqualTo(N_CTX); // the file's n_ctx wins
            assertThat(fromFile.referencePpl()).isNull();
            check(fromFile.compared().get(0).report(), expected(fileRows, q8Rows, targets, true));
            check(fromFile.compared().get(1).report(), expected(fileRows, q4Rows, targets, true));

            // --chunks limits the run
            try (LogitsFile lf = LogitsFile.open(file)) {
                assertThat(Evaluator.run(new Evaluator.FileReference("f", lf), compares, null, new Evaluator.Settings(512, 2, BOS), (m, c, n) -> {})
                        .scoredTokens()).isEqualTo(30);
            }
            assertThatThrownBy(() -> Evaluator.run(new Evaluator.ModelReference(cpu("f32", base), null), compares,
                    Arrays.copyOf(tokens, 63), new Evaluator.Settings(N_CTX, -1, BOS), (m, c, n) -> {}))
                    .isInstanceOf(IllegalArgumentException.class).hasMessageContaining("needs at least 64");
        }
    }

    /** Two layers and moderate logits (a range of about 25, so the -16 floor clamps some), so all statistics are informative. */
    private static TinyGemma tame(TinyGemma t) {
        t.nLayer = 2;
        t.embdScale = 0.3f;
        return t;
    }

    private static double[] row(float[] l, int p, int nv) {
        double[] out = new double[nv];
        for (int i = 0; i < nv; i++) out[i] = l[p * nv + i];
        return out;
    }

    private static double[] logSoftmax(double[] l) {
        double max = Arrays.stream(l).max().orElseThrow();
        double z = 0;
        for (double v : l) z += Math.exp(v - max);
        double lse = max + Math.log(z);
        double[] out = new double[l.length];
        for (int i = 0; i < l.length; i++) out[i] = l[i] - lse;
        return out;
    }

    private static int argmax(double[] v) {
        int a = 0;
        for (int i = 1; i < v.length; i++) if (v[i] > v[a]) a = i;
        return a;
    }

    record Expected(double ppl, double pplUnc, double pplBase, double lnRatio, double lnRatioUnc, double kld, double kldUnc,
                    double[] sortedKld, double sameTop, double sameTopUnc, double rms, double rmsUnc, double[] sortedDp,
                    double meanDp, double cor, double[] basePplFinalEstimate) {}

    /** llama-perplexity's statistics written out from their definitions, in double. */
    private static Expected expected(List<double[][]> base, List<double[][]> q, List<Integer> targets, boolean baseIsLogProbs) {
        int n = targets.size();
        double[] nll = new double[n], nllB = new double[n], kl = new double[n], dp = new double[n];
        int same = 0;
        for (int i = 0; i < n; i++) {
            double[] lpb = baseIsLogProbs ? base.get(i)[0] : logSoftmax(base.get(i)[0]);
            double[] lpq = logSoftmax(q.get(i)[0]);
            int t = targets.get(i);
            nll[i] = -lpq[t];
            nllB[i] = -lpb[t];
            for (int v = 0; v < lpb.length; v++) {
                if (baseIsLogProbs && lpb[v] <= -16) continue; // the file's floor
                kl[i] += Math.exp(lpb[v]) * (lpb[v] - lpq[v]);
            }
            dp[i] = Math.exp(lpq[t]) - Math.exp(lpb[t]);
            if (argmax(lpq) == argmax(lpb)) same++;
        }
        double[] mu = mu(nll), mb = mu(nllB);
        double cov = (dot(nll, nllB) / n - mean(nll) * mean(nllB)) / (n - 1);
        double[] mk = mu(kl);
        double[] dp2 = new double[n];
        for (int i = 0; i < n; i++) dp2[i] = dp[i] * dp[i];
        double[] mse = mu(dp2);
        double top = (double) same / n;
        double varB = dot(nllB, nllB) / n - mean(nllB) * mean(nllB);
        double pplB = Math.exp(mean(nllB));
        return new Expected(Math.exp(mu[0]), Math.exp(mu[0]) * mu[1], pplB, mu[0] - mb[0],
                Math.sqrt(mu[1] * mu[1] + mb[1] * mb[1] - 2 * cov), mk[0], mk[1], sorted(kl), top, Math.sqrt(top * (1 - top) / (n - 1)),
                Math.sqrt(mse[0]), 0.5 / Math.sqrt(mse[0]) * mse[1], sorted(dp), mean(dp), cov / (mu[1] * mb[1]),
                new double[] {pplB, Math.sqrt(varB / (n - 1)) * pplB});
    }

    /** mean and sqrt(var/(n-1)) with var = E[x²] − E[x]². */
    private static double[] mu(double[] x) {
        double m = mean(x);
        double var = dot(x, x) / x.length - m * m;
        return new double[] {m, Math.sqrt(var / (x.length - 1))};
    }

    private static double mean(double[] x) { return Arrays.stream(x).sum() / x.length; }

    private static double dot(double[] a, double[] b) {
        double s = 0;
        for (int i = 0; i < a.length; i++) s += a[i] * b[i];
        return s;
    }

    private static double[] sorted(double[] x) {
        double[] c = x.clone();
        Arrays.sort(c);
        return c;
    }

    private static double interpolate(double[] v, double f) {
        double p = f * (v.length - 1);
        int ip = (int) p;
        return (1 - (p - ip)) * v[ip] + (p - ip) * v[Math.min(ip + 1, v.length - 1)];
    }

    private static void check(KldReport r, Expected e) {
        double tol = 2e-5;
        assertThat(r.count()).isEqualTo(e.sortedKld.length);
        assertThat(r.ppl().value()).isCloseTo(e.ppl, offset(tol * e.ppl));
        assertThat(r.ppl().uncertainty()).isCloseTo(e.pplUnc, offset(1e-3 * e.pplUnc));
        assertThat(r.pplBase().value()).isCloseTo(e.pplBase, offset(tol * e.pplBase));
        assertThat(r.lnPplRatio().value()).isCloseTo(e.lnRatio, offset(tol * (1 + Math.abs(e.lnRatio))));
        assertThat(r.lnPplRatio().uncertainty()).isCloseTo(e.lnRatioUnc, offset(2e-3 * e.lnRatioUnc + 1e-6));
        assertThat(r.pplRatio().value()).isCloseTo(Math.exp(e.lnRatio), offset(1e-4 * Math.exp(e.lnRatio)));
        assertThat(r.correlation()).isCloseTo(e.cor, offset(1e-3));
        // llama.cpp sums float terms p·(log p_b − l + shift) whose parts are ~10: a token's KLD is good to ~1e-6 absolute
        double kAbs = 5e-6;
        assertThat(r.kld().value()).isCloseTo(e.kld, offset(1e-4 * e.kld + kAbs));
        assertThat(r.kld().uncertainty()).isCloseTo(e.kldUnc, offset(1e-3 * e.kldUnc + kAbs));
        double[] k = e.sortedKld;
        assertThat((double) r.kldPercentiles().get(1f)).isCloseTo(k[k.length - 1], offset(1e-4 * k[k.length - 1] + kAbs));
        assertThat((double) r.kldPercentiles().get(0f)).isCloseTo(k[0], offset(1e-4 * Math.abs(k[0]) + kAbs));
        assertThat((double) r.kldPercentiles().get(0.99f)).isCloseTo(interpolate(k, 0.99), offset(1e-4 * k[k.length - 1] + kAbs));
        assertThat((double) r.kldPercentiles().get(0.9f)).isCloseTo(interpolate(k, 0.9), offset(1e-4 * k[k.length - 1] + kAbs));
        double med = k.length % 2 == 0 ? (k[k.length / 2] + k[k.length / 2 - 1]) / 2 : k[k.length / 2];
        assertThat((double) r.kldPercentiles().get(0.5f)).isCloseTo(med, offset(1e-4 * k[k.length - 1] + kAbs));
        assertThat(r.sameTop().value()).isEqualTo(e.sameTop);
        assertThat(r.sameTop().uncertainty()).isCloseTo(e.sameTopUnc, offset(1e-12));
        assertThat(r.rmsDeltaP().value()).isCloseTo(e.rms, offset(1e-5));
        assertThat(r.rmsDeltaP().uncertainty()).isCloseTo(e.rmsUnc, offset(1e-3 * e.rmsUnc + 1e-7));
        assertThat(r.deltaP().value()).isCloseTo(e.meanDp, offset(1e-6));
        assertThat((double) r.deltaPPercentiles().get(0.75f)).isCloseTo(interpolate(e.sortedDp, 0.75), offset(1e-5));
    }
}
