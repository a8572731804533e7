package dev.requant.runtime.cuda;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.data.Offset.offset;

import dev.requant.formats.ggml.GgmlType;
import dev.requant.formats.model.GemmaConfig;
import dev.requant.formats.model.ModelSource;
import dev.requant.runtime.ForwardBatch;
import dev.requant.runtime.ForwardSession;
import dev.requant.runtime.SessionSpec;
import dev.requant.runtime.TinyGemma;
import dev.requant.runtime.eval.CalibrationKld;
import dev.requant.runtime.eval.EvalResult;
import dev.requant.runtime.eval.Evaluator;
import dev.requant.runtime.model.GemmaWeights;
import dev.requant.runtime.model.WeightTensor;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.SplittableRandom;
import org.junit.jupiter.api.Test;

/**
 * {@link ForwardSession#replaceMatrices} on the GPU (skipped without one, with the reason): a session with matrices
 * swapped in place computes bit for bit as a session opened on the replaced weights, and bit for bit as before once
 * the old tensors are put back; for regions planned with low bf16 halves (a Q8_0 model) and without (BF16, where an
 * inexact replacement borrows a low half), for types the GPU dequantizes (Q4_0), the host decodes (IQ4_NL) and bf16
 * holds exactly (MXFP4), and for Gemma 4's per-layer projections. Tables are refused, changing nothing. And the mix's
 * measurement on the device ({@link CalibrationKld} with the reference's distributions kept there) gives the
 * Evaluator's KLD on the same chunks.
 */
class CudaSessionReplaceTest {
    private static final int N_CTX = 64;

    private static TinyGemma gemma3(GgmlType type) {
        TinyGemma t = TinyGemma.gemma3();
        t.embdScale = 0.3f;
        return t.type(type);
    }

    private static TinyGemma gemma4(GgmlType type) {
        TinyGemma t = TinyGemma.gemma4();
        t.ple = 32; // a whole block of the 32-wide types in every per-layer matrix row
        t.embdScale = 0.3f;
        return t.type(type);
    }

    private static int[] tokens(int nVocab, int n, long seed) {
        int[] t = new int[n];
        SplittableRandom r = new SplittableRandom(seed);
        for (int i = 0; i < n; i++) t[i] = r.nextInt(nVocab);
        return t;
    }

    private static float[][] logits(ForwardSession s, int[] tokens, int nVocab) {
        float[][] out = new float[2 * (N_CTX - 1)][];
        s.run(ForwardBatch.logits(tokens, 2, 1, N_CTX, (seq, pos, row, off) ->
                out[seq * (N_CTX - 1) + pos - 1] = java.util.Arrays.copyOfRange(row, off, off + nVocab)));
        return out;
    }

    private static void assertSame(float[][] got, float[][] want, String what) {
        for (int r = 0; r < want.length; r++) assertThat(got[r]).as(what + " row " + r).containsExactly(want[r]);
    }

    private static CudaSession open(GemmaConfig c, GemmaWeights w) throws Exception {
        return CudaSession.open(CudaSessionImatrixTest.gpu(), c, w, SessionSpec.eval(N_CTX, 2, N_CTX - 1, null), line -> { });
    }

    /** Swaps {@code names} from the variants in, compares with a fresh session, swaps back, compares with the start. */
    private static void swapAndBack(java.util.function.Function<GgmlType, TinyGemma> model, GgmlType baseType, Map<String, GgmlType> swaps,
            String what) throws Exception {
        TinyGemma base = model.apply(baseType);
        List<ModelSource> opened = new ArrayList<>();
        try (ModelSource bs = base.build()) {
            GemmaConfig c = GemmaConfig.of(bs);
            GemmaWeights wb = GemmaWeights.load(bs, c);
            Map<String, WeightTensor> repl = new LinkedHashMap<>(), back = new LinkedHashMap<>();
            for (var e : swaps.entrySet()) {
                TinyGemma v = model.apply(e.getValue());
                ModelSource vs = v.build();
                opened.add(vs);
                WeightTensor t = GemmaWeights.load(vs, GemmaConfig.of(vs)).matricesByName().get(e.getKey());
                assertThat(t.type()).as(e.getKey()).isEqualTo(e.getValue());
                repl.put(e.getKey(), t);
                back.put(e.getKey(), wb.matricesByName().get(e.getKey()));
            }
            int[] toks = tokens(c.nVocab(), 2 * N_CTX, 3);
            float[][] want;
            try (CudaSession fresh = open(c, wb.replacing(repl))) {
                want = logits(fresh, toks, c.nVocab());
            }
            try (CudaSession s = open(c, wb)) {
                float[][] before = logits(s, toks, c.nVocab());
                assertThat(s.replaceMatrices(repl)).as(what).isTrue();
                assertSame(logits(s, toks, c.nVocab()), want, what + ": swapped in place vs opened on the replaced weights");
                // one at a time, back to the start
                for (var e : back.entrySet()) assertThat(s.replaceMatrices(Map.of(e.getKey(), e.getValue()))).isTrue();
                assertSame(logits(s, toks, c.nVocab()), before, what + ": put back");
                // a table is not replaced in place: refused, nothing changed
                WeightTensor te = GemmaWeights.load(opened.getFirst(), c).tokenEmbd();
                assertThat(s.replaceMatrices(Map.of(te.name(), te, swaps.keySet().iterator().next(), repl.values().iterator().next())))
                        .isFalse();
                assertSame(logits(s, toks, c.nVocab()), before, what + ": after a refused replacement");
                System.out.println("REPORT replace         " + what + ": " + swaps.size() + " matrices swapped in place equal a fresh session; put back equal the start");
            }
        } finally {
            for (ModelSource s : opened) s.close();
        }
    }

    @Test
    void bf16ModelBorrowsLowHalvesForInexactReplacements() throws Exception {
        CudaSessionImatrixTest.gpu().close();
        swapAndBack(CudaSessionReplaceTest::gemma3, GgmlType.BF16, Map.of(
                "blk.0.attn_q.weight", GgmlType.Q4_0, "blk.0.attn_v.weight", GgmlType.IQ4_NL,
                "blk.0.ffn_up.weight", GgmlType.IQ4_NL, "blk.1.attn_output.weight", GgmlType.MXFP4,
                "blk.1.ffn_down.weight", GgmlType.Q4_0, "blk.2.ffn_gate.weight", GgmlType.Q8_0), "gemma3 bf16");
    }

    @Test
    void q8ModelRewritesItsPlannedLowHalves() throws Exception {
        CudaSessionImatrixTest.gpu().close();
        swapAndBack(CudaSessionReplaceTest::gemma3, GgmlType.Q8_0, Map.of(
                "blk.0.attn_k.weight", GgmlType.BF16, "blk.0.ffn_gate.weight", GgmlType.Q4_0,
                "blk.1.ffn_down.weight", GgmlType.IQ4_NL, "blk.2.attn_output.weight", GgmlType.MXFP4), "gemma3 q8_0");
    }

    @Test
    void gemma4PerLayerProjections() throws Exception {
        CudaSessionImatrixTest.gpu().close();
        swapAndBack(CudaSessionReplaceTest::gemma4, GgmlType.BF16, Map.of(
                "blk.0.inp_gate.weight", GgmlType.Q4_0, "blk.1.proj.weight", GgmlType.Q8_0,
                "per_layer_model_proj.weight", GgmlType.Q4_0, "blk.3.attn_q.weight", GgmlType.IQ4_NL), "gemma4 bf16 (PLE)");
    }

    @Test
    void calibrationOnTheDeviceGivesTheEvaluatorsKld() throws Exception {
        CudaSessionImatrixTest.gpu().close();
        try (ModelSource bs = gemma3(GgmlType.BF16).build(); ModelSource qs = gemma3(GgmlType.Q4_0).build()) {
            GemmaConfig c = GemmaConfig.of(bs);
            GemmaWeights wb = GemmaWeights.load(bs, c), wq = GemmaWeights.load(qs, GemmaConfig.of(qs));
            // every matrix Q4_0 but the (tied) embedding table, which a session does not replace in place
            Map<String, WeightTensor> q4 = new LinkedHashMap<>(wq.matricesByName());
            q4.remove(wq.tokenEmbd().name());
            int[] toks = tokens(c.nVocab(), 5 * N_CTX, 9);
            SessionSpec spec = CalibrationKld.spec(N_CTX, 3); // 4 chunks: a batch of 3 and one of 1
            EvalResult want;
            try (CudaSession ref = CudaSession.open(CudaSessionImatrixTest.gpu(), c, wb, spec, l -> { });
                 CudaSession m = CudaSession.open(CudaSessionImatrixTest.gpu(), c, wb.replacing(q4), spec, l -> { })) {
                want = Evaluator.run(new Evaluator.ModelReference(new Evaluator.Model("base", ref), null), List.of(new Evaluator.Model("q4", m)),
                        toks, new Evaluator.Settings(N_CTX, 4, 2), (a, b, n) -> { });
            }
            double wantKld = want.compared().getFirst().report().kld().value();
            try (CudaSession ref = CudaSession.open(CudaSessionImatrixTest.gpu(), c, wb, spec, l -> { });
                 CalibrationKld calib = CalibrationKld.of(ref, toks, N_CTX, 4, 2)) {
                assertThat(calib.onDevice()).isTrue();
                assertThat(calib.chunks()).isEqualTo(4);
                assertThat(calib.referenceNll()).isCloseTo(Math.log(want.referencePpl().value()), offset(1e-6));
                double k0 = calib.meanKld(ref);
                assertThat(ref.replaceMatrices(q4)).isTrue();
                double k = calib.meanKld(ref);
                assertThat(k0).isCloseTo(0, offset(1e-9));
                assertThat(k).isPositive().isCloseTo(wantKld, offset(1e-9 * Math.max(1, wantKld)));
                System.out.printf(java.util.Locale.ROOT,
                        "REPORT replace         calibration on the device: base %.3g, Q4_0 swapped in %.9f, evaluator %.9f%n", k0, k, wantKld);
            }
        }
    }
}
