package dev.requant.runtime.eval;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.data.Offset.offset;

import dev.requant.formats.ggml.GgmlType;
import dev.requant.formats.model.GemmaConfig;
import dev.requant.formats.model.ModelSource;
import dev.requant.runtime.SessionSpec;
import dev.requant.runtime.TinyGemma;
import dev.requant.runtime.cpu.CpuForwardSession;
import dev.requant.runtime.cpu.CpuModel;
import dev.requant.runtime.cpu.CpuThreads;
import dev.requant.runtime.model.GemmaWeights;
import dev.requant.runtime.model.WeightTensor;
import java.util.List;
import java.util.Map;
import java.util.SplittableRandom;
import org.junit.jupiter.api.Test;

/**
 * The mix's measurement: CalibrationKld gives the Evaluator's mean KLD (model reference, exact log-probs) on the same
 * chunks, and a model with one tensor swapped for another file's copy differs from the reference by exactly that.
 */
class CalibrationKldTest {
    static final int N_CTX = 32, BOS = 2;

    @Test
    void sameMeanKldAsTheEvaluatorAndOneTensorSwapped() throws Exception {
        TinyGemma base = tame(TinyGemma.gemma3());
        TinyGemma q4 = tame(TinyGemma.gemma3().type(GgmlType.Q4_0));
        int[] tokens = new int[N_CTX * 5];
        SplittableRandom r = new SplittableRandom(5);
        for (int i = 0; i < tokens.length; i++) tokens[i] = r.nextInt(base.nVocab);
        try (ModelSource bs = base.build(); ModelSource s4 = q4.build(); CpuThreads pool = new CpuThreads(2)) {
            GemmaConfig c = GemmaConfig.of(bs);
            GemmaWeights wb = GemmaWeights.load(bs, c), w4 = GemmaWeights.load(s4, GemmaConfig.of(s4));
            SessionSpec spec = CalibrationKld.spec(N_CTX);
            CalibrationKld calib;
            try (var ref = new CpuForwardSession(new CpuModel(c, wb, pool, false, true), spec, true)) {
                calib = CalibrationKld.of(ref, tokens, N_CTX, 4, BOS);
            }
            assertThat(calib.chunks()).isEqualTo(4);
            assertThat(calib.scoredTokens()).isEqualTo(4 * LogitsFile.scoredPerChunk(N_CTX));

            double k4;
            try (var m = new CpuForwardSession(new CpuModel(c, w4, pool, false, true), spec, true)) {
                k4 = calib.meanKld(m);
            }
            EvalResult want;
            try (var ref = new CpuForwardSession(new CpuModel(c, wb, pool, false, true), spec, true);
                 var m = new CpuForwardSession(new CpuModel(c, w4, pool, false, true), spec, true)) {
                want = Evaluator.run(new Evaluator.ModelReference(new Evaluator.Model("base", ref), null), List.of(new Evaluator.Model("q4", m)),
                        tokens, new Evaluator.Settings(N_CTX, 4, BOS), (a, b, n) -> { });
            }
            assertThat(k4).isPositive().isCloseTo(want.compared().getFirst().report().kld().value(), offset(1e-9 * Math.max(1, k4)));
            assertThat(calib.referenceNll()).isCloseTo(Math.log(want.referencePpl().value()), offset(1e-6));

            // the base itself: zero; one Q4_0 tensor swapped in: more than zero, less than the whole Q4_0 model
            try (var same = new CpuForwardSession(new CpuModel(c, wb, pool, false, true), spec, true)) {
                assertThat(calib.meanKld(same)).isCloseTo(0, offset(1e-9));
            }
            String name = "blk.0.ffn_up.weight";
            WeightTensor swapped = w4.matricesByName().get(name);
            assertThat(swapped.type()).isEqualTo(GgmlType.Q4_0);
            GemmaWeights one = wb.replacing(Map.of(name, swapped));
            assertThat(one.layer(0).ffnUp()).isSameAs(swapped);
            assertThat(one.layer(0).ffnDown()).isSameAs(wb.layer(0).ffnDown());
            try (var m = new CpuForwardSession(new CpuModel(c, one, pool, false, true), spec, true)) {
                double k1 = calib.meanKld(m);
                assertThat(k1).isPositive().isLessThan(k4);
            }
        }
    }

    /** Moderate logits, as EvaluatorTest's: distributions that are not one-hot, so a KLD is informative. */
    private static TinyGemma tame(TinyGemma t) {
        t.nLayer = 2;
        t.embdScale = 0.3f;
        return t;
    }
}
