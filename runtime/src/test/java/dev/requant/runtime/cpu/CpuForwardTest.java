package dev.requant.runtime.cpu;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.requant.formats.FormatException;
import dev.requant.formats.ggml.GgmlType;
import dev.requant.formats.model.GemmaConfig;
import dev.requant.formats.model.ModelSource;
import dev.requant.runtime.ActivationObserver;
import dev.requant.runtime.ReferenceGemma;
import dev.requant.runtime.TinyGemma;
import dev.requant.runtime.model.GemmaWeights;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.SplittableRandom;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;

/** The CPU forward pass on small random models against the naive reference, and its batching invariants. */
class CpuForwardTest {
    static Stream<Arguments> models() {
        TinyGemma g3 = TinyGemma.gemma3();
        g3.nLayer = 7; // sliding, sliding, ..., global at 5, sliding at 6
        TinyGemma g3q = TinyGemma.gemma3().type(GgmlType.Q8_0);
        TinyGemma g3q4 = TinyGemma.gemma3().type(GgmlType.Q4_0);
        TinyGemma g4 = TinyGemma.gemma4();
        TinyGemma g4shared = TinyGemma.gemma4();
        g4shared.nLayer = 6;
        g4shared.sharedKv = 2;
        g4shared.kEqV = true;
        g4shared.swaPattern = new boolean[] {true, true, true, false, true, false};
        g4shared.ple = 0;
        TinyGemma g4moe = TinyGemma.gemma4();
        g4moe.nExpert = 5;
        g4moe.nExpertUsed = 2;
        g4moe.expertFf = 32;
        g4moe.ple = 32;
        g4moe.type(GgmlType.BF16);
        TinyGemma g3nv = TinyGemma.gemma3().type(GgmlType.NVFP4);
        g3nv.nFf = 128; // NVFP4 rows are whole 64-blocks
        g3nv.outputScales = true;
        return Stream.of(
                Arguments.of("gemma3 f32", g3),
                Arguments.of("gemma3 nvfp4 with output scales", g3nv),
                Arguments.of("gemma3 q8_0", g3q),
                Arguments.of("gemma3 q4_0", g3q4),
                Arguments.of("gemma4 ple+softcap", g4),
                Arguments.of("gemma4 kv-shared k_eq_v", g4shared),
                Arguments.of("gemma4 moe bf16", g4moe));
    }

    static int[] tokens(int n, int vocab, long seed) {
        SplittableRandom r = new SplittableRandom(seed);
        int[] t = new int[n];
        for (int i = 0; i < n; i++) t[i] = r.nextInt(vocab);
        return t;
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("models")
    void logitsMatchNaiveReference(String name, TinyGemma spec) throws Exception {
        try (ModelSource src = spec.build(); CpuModel model = CpuModel.load(src, 2)) {
            int[] toks = tokens(11, spec.nVocab, 5); // longer than the sliding window (4)
            double[][] ref = new ReferenceGemma(src).logits(toks);
            float[] got = model.newSession(32).logits(toks);
            assertClose(ref, got, spec.nVocab, 2e-5);
        }
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("models")
    void scalarKernelsAgreeWithVectorKernels(String name, TinyGemma spec) throws Exception {
        try (ModelSource src = spec.build(); CpuModel fast = CpuModel.load(src, 2)) {
            GemmaConfig c = GemmaConfig.of(src);
            try (CpuModel scalar = new CpuModel(c, GemmaWeights.load(src, c), new CpuThreads(1), true, false)) {
                int[] toks = tokens(9, spec.nVocab, 6);
                float[] a = fast.newSession(16).logits(toks);
                float[] b = scalar.newSession(16).logits(toks);
                double range = range(b);
                for (int i = 0; i < a.length; i++) assertThat((double) a[i]).isCloseTo(b[i], org.assertj.core.data.Offset.offset(2e-5 * range));
            }
        }
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("models")
    void batchesThroughTheKvCacheEqualOneBatch(String name, TinyGemma spec) throws Exception {
        try (ModelSource src = spec.build(); CpuModel model = CpuModel.load(src, 2)) {
            int[] toks = tokens(17, spec.nVocab, 7);
            float[] whole = model.newSession(32).logits(toks);
            CpuSession s = model.newSession(32);
            int nv = spec.nVocab;
            float[] parts = new float[whole.length];
            int pos = 0;
            for (int len : new int[] {5, 1, 2, 9}) {
                int base = pos;
                s.decode(toks, pos, len, r -> true, (row, l, off) -> System.arraycopy(l, off, parts, (base + row) * nv, nv));
                pos += len;
            }
            assertThat(s.position()).isEqualTo(17);
            double range = range(whole);
            for (int i = 0; i < whole.length; i++) assertThat((double) parts[i]).isCloseTo(whole[i], org.assertj.core.data.Offset.offset(1e-5 * range));
        }
    }

    @Test
    void logitsDoNotDependOnTheThreadCount() throws Exception {
        TinyGemma spec = TinyGemma.gemma4();
        spec.nExpert = 4;
        spec.nExpertUsed = 2;
        try (ModelSource src = spec.build()) {
            GemmaConfig c = GemmaConfig.of(src);
            int[] toks = tokens(13, spec.nVocab, 10);
            float[] one, three;
            try (CpuModel m = new CpuModel(c, GemmaWeights.load(src, c), new CpuThreads(1), true, true)) {
                one = m.newSession(16).logits(toks);
            }
            try (CpuModel m = new CpuModel(c, GemmaWeights.load(src, c), new CpuThreads(3), true, true)) {
                three = m.newSession(16).logits(toks);
            }
            assertThat(three).containsExactly(one);
        }
    }

    @Test
    void requestedRowsAreExactlyTheRowsOfAFullRun() throws Exception {
        for (TinyGemma spec : List.of(TinyGemma.gemma3(), TinyGemma.gemma4())) {
            try (ModelSource src = spec.build(); CpuModel model = CpuModel.load(src, 2)) {
                int[] toks = tokens(12, spec.nVocab, 8);
                float[] all = model.newSession(16).logits(toks);
                int nv = spec.nVocab;
                List<Integer> seen = new ArrayList<>();
                model.newSession(16).decode(toks, 0, 12, r -> r >= 6 && r != 8, (row, l, off) -> {
                    seen.add(row);
                    assertThat(Arrays.copyOfRange(l, off, off + nv)).containsExactly(Arrays.copyOfRange(all, row * nv, row * nv + nv));
                });
                assertThat(seen).containsExactly(6, 7, 9, 10, 11);
            }
        }
    }

    @Test
    void observerSeesEveryMatMulInGraphOrder() throws Exception {
        TinyGemma spec = TinyGemma.gemma4();
        spec.nLayer = 2;
        try (ModelSource src = spec.build(); CpuModel model = CpuModel.load(src, 2)) {
            List<String> calls = new ArrayList<>();
            List<float[]> inputs = new ArrayList<>();
            CpuSession s = model.newSession(16);
            s.setObserver(new ActivationObserver() {
                @Override
                public void onMatMul(String weight, float[] rows, int nRows, int cols) {
                    calls.add(weight + " " + nRows + "x" + cols);
                    inputs.add(Arrays.copyOf(rows, nRows * cols));
                }

                @Override
                public boolean observeOutput() { return true; }
            });
            int[] toks = tokens(5, spec.nVocab, 9);
            s.decode(toks, 0, 5, r -> r == 4, (row, l, off) -> {});
            int E = spec.nEmbd;
            assertThat(calls).containsExactly(
                    "blk.0.attn_q.weight 5x64", "blk.0.attn_k.weight 5x64", "blk.0.attn_v.weight 5x64",
                    "blk.0.attn_output.weight 5x128", "blk.0.ffn_gate.weight 5x64", "blk.0.ffn_up.weight 5x64",
                    "blk.0.ffn_down.weight 5x96", "blk.0.inp_gate.weight 5x64", "per_layer_model_proj.weight 5x64",
                    "blk.0.proj.weight 5x16",
                    "blk.1.attn_q.weight 5x64", "blk.1.attn_k.weight 5x64", "blk.1.attn_v.weight 5x64",
                    // the last layer keeps only the one requested row after attention
                    "blk.1.attn_output.weight 1x256", "blk.1.ffn_gate.weight 1x64", "blk.1.ffn_up.weight 1x64",
                    "blk.1.ffn_down.weight 1x96", "blk.1.inp_gate.weight 1x64", "blk.1.proj.weight 1x16",
                    "token_embd.weight 1x64");
            // q, k and v share one input; ffn_gate and ffn_up share one
            assertThat(inputs.get(1)).containsExactly(inputs.get(0));
            assertThat(inputs.get(2)).containsExactly(inputs.get(0));
            assertThat(inputs.get(5)).containsExactly(inputs.get(4));
            // per_layer_model_proj sees the scaled token embeddings
            float[] emb = inputs.get(8);
            float[] row = new float[E];
            RowDecoders.scalar(GgmlType.F32).decode(src.data("token_embd.weight"), (long) toks[3] * E * 4, row, 0, E);
            for (int i = 0; i < E; i++) assertThat(emb[3 * E + i]).isEqualTo(row[i] * (float) Math.sqrt(E));
        }
    }

    @Test
    void tiedHeadIsNotObservedUnlessAsked() throws Exception {
        try (ModelSource src = TinyGemma.gemma3().build(); CpuModel model = CpuModel.load(src, 1)) {
            List<String> calls = new ArrayList<>();
            CpuSession s = model.newSession(8);
            s.setObserver((w, rows, n, cols) -> calls.add(w));
            s.logits(new int[] {1, 2, 3});
            assertThat(calls).hasSize(3 * 7).doesNotContain("token_embd.weight", "output.weight");
        }
    }

    @Test
    void badInputsFailClearly() throws Exception {
        try (TinyGemma.MemorySource src = (TinyGemma.MemorySource) TinyGemma.gemma3().build()) {
            CpuModel model = CpuModel.load(src, 1);
            CpuSession s = model.newSession(4);
            assertThatThrownBy(() -> s.logits(new int[] {1, 2, 3, 4, 5})).isInstanceOf(IllegalArgumentException.class)
                    .hasMessageContaining("exceeds the context of 4");
            assertThatThrownBy(() -> s.logits(new int[] {97})).isInstanceOf(IllegalArgumentException.class)
                    .hasMessageContaining("token id 97");
            model.close();
            src.remove("blk.1.ffn_up.weight");
            assertThatThrownBy(() -> CpuModel.load(src, 1)).isInstanceOf(FormatException.class)
                    .hasMessageContaining("missing tensor 'blk.1.ffn_up.weight'");
            src.put(TinyGemma.Tensor.of(java.lang.foreign.Arena.ofAuto(), "blk.1.ffn_up.weight", GgmlType.F32, new float[64 * 95], 64, 95));
            assertThatThrownBy(() -> CpuModel.load(src, 1)).isInstanceOf(FormatException.class)
                    .hasMessageContaining("'blk.1.ffn_up.weight' has dims [64, 95], expected [64, 96]");
        }
    }

    static double range(float[] v) {
        float lo = Float.POSITIVE_INFINITY, hi = Float.NEGATIVE_INFINITY;
        for (float x : v) {
            if (Float.isInfinite(x)) continue;
            lo = Math.min(lo, x);
            hi = Math.max(hi, x);
        }
        return hi - lo;
    }

    static void assertClose(double[][] ref, float[] got, int nv, double relTol) {
        double lo = Double.POSITIVE_INFINITY, hi = Double.NEGATIVE_INFINITY, maxDiff = 0;
        for (double[] r : ref) for (double x : r) {
            lo = Math.min(lo, x);
            hi = Math.max(hi, x);
        }
        for (int t = 0; t < ref.length; t++) for (int i = 0; i < nv; i++) maxDiff = Math.max(maxDiff, Math.abs(ref[t][i] - got[t * nv + i]));
        assertThat(maxDiff / (hi - lo)).as("max |diff| %.3g over logit range %.3g", maxDiff, hi - lo).isLessThan(relTol);
    }
}
