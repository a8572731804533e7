package dev.requant.runtime.cuda;

import static org.assertj.core.api.Assertions.assertThat;

import dev.requant.cuda.CudaDevice;
import dev.requant.formats.ggml.GgmlType;
import dev.requant.formats.imatrix.Imatrix;
import dev.requant.formats.imatrix.ImatrixAccumulator;
import dev.requant.formats.imatrix.ImatrixEntry;
import dev.requant.formats.model.ModelSource;
import dev.requant.runtime.ForwardSession;
import dev.requant.runtime.GemmInputs;
import dev.requant.runtime.SessionSpec;
import dev.requant.runtime.TinyGemma;
import dev.requant.runtime.cpu.CpuForwardSession;
import dev.requant.runtime.cpu.CpuModel;
import dev.requant.runtime.cpu.CpuThreads;
import dev.requant.runtime.eval.EvalResult;
import dev.requant.runtime.eval.Evaluator;
import dev.requant.runtime.eval.KldReport;
import dev.requant.runtime.eval.LogitsFile;
import dev.requant.runtime.imatrix.ChunkPlan;
import dev.requant.runtime.imatrix.ImatrixCollector;
import dev.requant.runtime.imatrix.ImatrixSettings;
import dev.requant.formats.model.GemmaConfig;
import dev.requant.runtime.model.GemmaWeights;
import java.util.ArrayList;
import java.util.List;
import java.util.SplittableRandom;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;

/**
 * Mixture-of-experts layers (Gemma 4 26B-A4B's block: router, top-k, shared MLP) through the GPU session against the
 * CPU session (skipped without a GPU, with the reason): imatrix entries with per-expert sums and counts as
 * llama-imatrix keeps them, and eval statistics.
 */
class CudaSessionMoeTest {
    /** A small Gemma 4 with PLE and 16 experts (top 4) in every layer, bf16 matrices (exact on the GPU). */
    static TinyGemma moe(GgmlType t) {
        TinyGemma g = TinyGemma.gemma4();
        g.nEmbd = 128;
        g.nFf = 192;
        g.nExpert = 16;
        g.nExpertUsed = 4;
        g.expertFf = 96;
        g.ple = 32;
        g.nVocab = 300;
        g.embdScale = 0.3f;
        return g.type(t);
    }

    static int[] tokens(int n, int vocab, long seed) {
        SplittableRandom r = new SplittableRandom(seed);
        int[] t = new int[n];
        for (int i = 0; i < n; i++) t[i] = r.nextInt(vocab);
        return t;
    }

    @ParameterizedTest
    @EnumSource(CudaSession.ExpertGemms.class)
    void expertImatrixMatchesTheCpu(CudaSession.ExpertGemms mode) throws Exception {
        CudaDevice d = CudaSessionImatrixTest.gpu();
        TinyGemma spec = moe(GgmlType.BF16);
        ImatrixSettings s = new ImatrixSettings(128, 512, 512, 8, 0, false, 10, 0);
        int[] tokens = tokens(8 * 128 + 1, spec.nVocab, 11);
        try (ModelSource src = spec.build()) {
            GemmaConfig c = GemmaConfig.of(src);
            GemmaWeights w = GemmaWeights.load(src, c);
            Imatrix cpu, gpu;
            try (ForwardSession b = new CpuForwardSession(new CpuModel(c, w, new CpuThreads(4), true, true),
                    SessionSpec.imatrix(128, 4, new ImatrixAccumulator(128), false, null), true)) {
                cpu = ImatrixCollector.run(tokens, 2, ChunkPlan.of(tokens.length, s), b, 0, "t", (im, at) -> {}, null).imatrix();
            }
            try (CudaSession b = CudaSession.open(d, c, w, SessionSpec.imatrix(128, 4, new ImatrixAccumulator(128), false,
                    GemmInputs.SPLIT_BF16), m -> {}).expertGemms(mode)) {
                gpu = ImatrixCollector.run(tokens, 2, ChunkPlan.of(tokens.length, s), b, 0, "t", (im, at) -> {}, null).imatrix();
                // the path asked for ran (BATCHED falls back per layer only when padding would not fit the workspace)
                assertThat(mode == CudaSession.ExpertGemms.BATCHED ? b.batchedMoeLayers : b.perExpertMoeLayers).isPositive();
                if (mode == CudaSession.ExpertGemms.ONE_PER_EXPERT) assertThat(b.batchedMoeLayers).isZero();
            }
            assertThat(gpu.entries().keySet()).containsExactlyElementsOf(cpu.entries().keySet());
            assertThat(cpu.entries().keySet()).anyMatch(n -> n.endsWith("ffn_gate_up_exps.weight")).anyMatch(n -> n.endsWith("ffn_gate_inp.weight"));
            double worst = 0, worstDense = 0;
            String worstName = "";
            long countDiffs = 0, rows = 0;
            for (ImatrixEntry r : cpu.entries().values()) {
                ImatrixEntry e = gpu.entry(r.name()).orElseThrow();
                assertThat(e.counts()).as(r.name()).hasSameSizeAs(r.counts());
                long total = 0, totalGpu = 0;
                for (int i = 0; i < r.counts().length; i++) {
                    total += r.counts()[i];
                    totalGpu += e.counts()[i];
                    countDiffs += Math.abs(r.counts()[i] - e.counts()[i]);
                }
                rows += total;
                assertThat(totalGpu).as(r.name() + " rows").isEqualTo(total);
                double num = 0, den = 0;
                for (int i = 0; i < r.sums().length; i++) {
                    double dd = (double) e.sums()[i] - r.sums()[i];
                    num += dd * dd;
                    den += (double) r.sums()[i] * r.sums()[i];
                }
                double rel = Math.sqrt(num / den);
                if (r.counts().length == 1) worstDense = Math.max(worstDense, rel);
                if (rel > worst) {
                    worst = rel;
                    worstName = r.name();
                }
            }
            System.out.printf("REPORT imatrix-gpu     gemma4 MoE 16x top-4, 8 x 128, " + mode + ": worst rel. L2 %.2e (%s), dense %.2e; expert"
                    + " rows routed differently %d of %d%n", worst, worstName, worstDense, countDiffs / 2, rows);
            // The router is a float32 GEMM, but its input carries the GPU's rounding of the layers before (f16
            // attention operands, ~1e-3): a near-tie in the top-k can flip. Measured on the H100 (2026-12-06): 34 of
            // 73,728 expert rows; such a row moves a whole input between two experts, so an expert that received few
            // rows can differ by a few percent (2.8e-2 measured); the dense entries are not affected that much.
            assertThat(countDiffs).isLessThanOrEqualTo(rows / 500);
            assertThat(worstDense).isLessThanOrEqualTo(countDiffs == 0 ? 1e-3 : 1e-2);
            assertThat(worst).isLessThanOrEqualTo(countDiffs == 0 ? 1e-3 : 5e-2);
        }
    }

    @Test
    void moeEvalMatchesTheCpu() throws Exception {
        CudaSessionImatrixTest.gpu().close();
        int nCtx = 128;
        int[] tokens = tokens(6 * nCtx, 300, 12);
        try (ModelSource bs = moe(GgmlType.BF16).build(); ModelSource qs = moe(GgmlType.Q8_0).build();
                CpuThreads pool = new CpuThreads(4)) {
            EvalResult[] r = new EvalResult[2];
            for (int g = 0; g < 2; g++) {
                List<ForwardSession> ss = new ArrayList<>();
                for (ModelSource src : List.of(bs, qs)) {
                    GemmaConfig c = GemmaConfig.of(src);
                    GemmaWeights w = GemmaWeights.load(src, c);
                    SessionSpec spec = SessionSpec.eval(nCtx, 4, LogitsFile.scoredPerChunk(nCtx), GemmInputs.SPLIT_BF16);
                    ss.add(g == 1 ? CudaSession.open(CudaSessionImatrixTest.gpu(), c, w, spec, m -> {})
                            : new CpuForwardSession(new CpuModel(c, w, pool, false, true), spec, true));
                }
                try {
                    r[g] = Evaluator.run(new Evaluator.ModelReference(new Evaluator.Model("bf16", ss.get(0)), null),
                            List.of(new Evaluator.Model("q8_0", ss.get(1))), tokens, new Evaluator.Settings(nCtx, -1, 2), (m, c, n) -> {});
                } finally {
                    for (ForwardSession x : ss) x.close();
                }
            }
            KldReport cg = r[1].compared().getFirst().report(), cc = r[0].compared().getFirst().report();
            double refPpl = r[1].referencePpl().value() / r[0].referencePpl().value() - 1;
            double ppl = cg.ppl().value() / cc.ppl().value() - 1, kld = cg.kld().value() / cc.kld().value() - 1;
            System.out.printf("REPORT eval-gpu        gemma4 MoE 16x top-4, 6 x 128: ref PPL %+.2e; q8_0 PPL %+.2e, KLD %.3g vs %.3g (%+.2f%%)%n",
                    refPpl, ppl, cg.kld().value(), cc.kld().value(), 100 * kld);
            // routing flips (see expertImatrixMatchesTheCpu) move whole tokens on this tiny random model (378 scored):
            // measured on the H100 (2026-12-06) ref PPL +0.93%, KLD +3.6%; the dense targets (0.5%, 2%) do not hold here
            assertThat(Math.abs(refPpl)).isLessThan(0.02);
            assertThat(Math.abs(ppl)).isLessThan(0.03);
            assertThat(Math.abs(kld)).isLessThan(0.10);
        }
    }
}
