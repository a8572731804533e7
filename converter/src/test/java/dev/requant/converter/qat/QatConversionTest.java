package dev.requant.converter.qat;

import static org.assertj.core.api.Assertions.assertThat;

import dev.requant.converter.ConversionPlan;
import dev.requant.converter.ConversionSettings;
import dev.requant.converter.GemmaPlanner;
import dev.requant.converter.GgufConversion;
import dev.requant.formats.gguf.FileType;
import dev.requant.converter.PlannedTensor;
import dev.requant.converter.TypePolicy;
import dev.requant.formats.ggml.BFloat16;
import dev.requant.formats.ggml.BlockCodec;
import dev.requant.formats.ggml.GgmlType;
import dev.requant.formats.gguf.GgufFile;
import dev.requant.formats.gguf.GgufTensorInfo;
import dev.requant.formats.io.LittleEndian;
import dev.requant.formats.safetensors.SafetensorsCheckpoint;
import dev.requant.testmodels.QatWeights;
import dev.requant.testmodels.QatWeights.Assignment;
import dev.requant.testmodels.QatWeights.ScaleDtype;
import dev.requant.testmodels.QatWeights.ScaleRule;
import dev.requant.testmodels.SyntheticCheckpoint;
import dev.requant.testmodels.WeightGenerator;
import java.io.IOException;
import java.lang.foreign.MemorySegment;
import java.nio.file.Path;
import java.util.HashMap;
import java.util.Map;
import java.util.function.Function;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;

class QatConversionTest {
    @TempDir Path tmp;

    static Path checkpoint(Path dir, Function<String, Assignment> assign) throws IOException {
        return SyntheticCheckpoint.gemma3().weights(QatWeights.generator(7, 0.02f, assign, WeightGenerator.hashed(7))).write(dir);
    }

    /** convert --type q4_0 --qat MODE, as the CLI does it. */
    static Map<String, PlannedTensor> convert(Path dir, Path out, QatPolicy.Mode mode) throws IOException {
        QatPolicy qat = new QatPolicy(mode);
        try (ConversionPlan plan = GemmaPlanner.plan(dir, ConversionSettings.of(FileType.Q4_0), qat.apply(TypePolicy.defaults()))) {
            GgufConversion.write(plan, qat.metadata(plan), out, null, w -> qat.fillIn(w, plan));
            Map<String, PlannedTensor> m = new HashMap<>();
            for (PlannedTensor t : plan.tensors()) m.put(t.ggufName(), t);
            return m;
        }
    }

    /** Number of 32-element blocks of the GGUF tensor that decode (rounded to BF16) to the checkpoint's stored bits. */
    static long exactBlocks(GgufFile gguf, GgufTensorInfo t, SafetensorsCheckpoint ck, String hfName) {
        var e = ck.get(hfName).orElseThrow();
        MemorySegment src = e.file().data(e.tensor());
        int n = Math.toIntExact(t.spec().rowLength());
        float[] row = new float[n];
        long exact = 0;
        long rowBytes = t.type().rowBytes(n);
        for (long r = 0; r < t.spec().rows(); r++) {
            BlockCodec.of(t.type()).decode(gguf.tensorData(t), r * rowBytes, row, 0, n);
            for (int b = 0; b < n; b += 32) {
                boolean same = true;
                for (int i = b; i < b + 32 && same; i++) {
                    short stored = src.get(LittleEndian.SHORT, 2 * (r * n + i));
                    same = BFloat16.fromFloat(row[i]) == stored;
                }
                if (same) exact++;
            }
        }
        return exact;
    }

    @ParameterizedTest
    @EnumSource(value = ScaleRule.class, names = {"MAX_NEG8", "ABSMAX_7", "LEARNED"})
    void bf16ScaledQatCheckpointsComeBackBitForBit(ScaleRule rule) throws IOException {
        Path dir = checkpoint(tmp.resolve("hf"), name -> Assignment.of(rule, ScaleDtype.BF16));
        Path out = tmp.resolve("q4_0.gguf");
        Map<String, PlannedTensor> plan = convert(dir, out, QatPolicy.Mode.AUTO);
        try (GgufFile f = GgufFile.open(out); SafetensorsCheckpoint ck = SafetensorsCheckpoint.open(dir)) {
            int q4 = 0;
            for (GgufTensorInfo t : f.tensors()) {
                if (t.type() != GgmlType.Q4_0) continue;
                q4++;
                assertThat(plan.get(t.name()).decision().rule()).as(t.name()).startsWith("qat: lattice q4_0 (100.0% exact");
                long blocks = t.spec().elementCount() / 32;
                assertThat(exactBlocks(f, t, ck, plan.get(t.name()).hfName())).as(t.name()).isEqualTo(blocks);
            }
            assertThat(q4).as("every 2-D weight, token_embd included").isEqualTo(1 + 6 * 7);
            var md = f.metadata();
            assertThat(md.getString("requant.qat.mode")).contains("auto");
            assertThat(md.getLong("requant.qat.lattice_tensors")).contains(43L);
            assertThat(md.getLong("requant.qat.exact_blocks")).isEqualTo(md.getLong("requant.qat.blocks")).isPresent();
            for (String c : new String[] {"attn_q", "attn_k", "attn_v", "attn_output", "ffn_gate", "ffn_up", "ffn_down", "token_embd"}) {
                assertThat(md.getFloat("requant.qat.exact_fraction." + c)).as(c).contains(1.0f);
            }
        }
    }

    /** Gemma 4's 3-D expert tensors ([E, rows, cols]) are found on their lattice and encoded on it, every block exact. */
    @Test
    void expertTensorsTakeTheLatticeToo() throws IOException {
        Path dir = SyntheticCheckpoint.gemma4().hiddenSize(128).intermediateSize(256).layers(2).moe(4, 2, 64)
                .weights(QatWeights.generator(7, 0.02f, n -> Assignment.of(ScaleRule.LEARNED, ScaleDtype.BF16), WeightGenerator.hashed(7)))
                .write(tmp.resolve("hf"));
        Path out = tmp.resolve("q4_0.gguf");
        Map<String, PlannedTensor> plan = convert(dir, out, QatPolicy.Mode.AUTO);
        try (GgufFile f = GgufFile.open(out); SafetensorsCheckpoint ck = SafetensorsCheckpoint.open(dir)) {
            for (String name : new String[] {"blk.0.ffn_gate_up_exps.weight", "blk.1.ffn_down_exps.weight"}) {
                GgufTensorInfo t = f.tensor(name).orElseThrow();
                assertThat(t.type()).isEqualTo(GgmlType.Q4_0);
                assertThat(t.ne()).hasSize(3);
                assertThat(plan.get(name).decision().rule()).as(name).startsWith("qat: lattice q4_0 (100.0% exact");
                assertThat(exactBlocks(f, t, ck, plan.get(name).hfName())).as(name).isEqualTo(t.spec().elementCount() / 32);
            }
            assertThat(f.metadata().getFloat("requant.qat.exact_fraction.ffn_gate_up_exps")).contains(1.0f);
        }
        // qat-report reads the 3-D tensors of the checkpoint as well
        try (var model = dev.requant.converter.ModelSources.open(dir)) {
            QatReport r = QatReport.analyse(model, 0, 2, null);
            assertThat(r.byClass().get("ffn_gate_up_exps").exactFraction()).isEqualTo(1.0);
            assertThat(r.byClass().get("ffn_down_exps").exactFraction()).isEqualTo(1.0);
        }
    }

    @Test
    void fp32ScalesAreAsExactAsF16Storage() throws IOException {
        Path dir = checkpoint(tmp.resolve("hf"), name -> Assignment.of(ScaleRule.LEARNED, ScaleDtype.FP32));
        Path out = tmp.resolve("q4_0.gguf");
        Map<String, PlannedTensor> plan = convert(dir, out, QatPolicy.Mode.AUTO);
        try (GgufFile f = GgufFile.open(out); SafetensorsCheckpoint ck = SafetensorsCheckpoint.open(dir)) {
            GgufTensorInfo t = f.tensor("blk.2.ffn_up.weight").orElseThrow();
            assertThat(plan.get(t.name()).decision().rule()).startsWith("qat: lattice q4_0");
            float recorded = f.metadata().getFloat("requant.qat.exact_fraction.ffn_up").orElseThrow();
            assertThat(recorded).isBetween(0.9f, 0.999f);
            // the recorded fraction is what the file really reproduces
            long exact = 0, blocks = 0;
            for (int l = 0; l < 6; l++) {
                GgufTensorInfo up = f.tensor("blk." + l + ".ffn_up.weight").orElseThrow();
                exact += exactBlocks(f, up, ck, plan.get(up.name()).hfName());
                blocks += up.spec().elementCount() / 32;
            }
            assertThat((float) exact / blocks).isEqualTo(recorded);
        }
    }

    @Test
    void mixedCheckpointsUseTheLatticeOnlyWhereItFits() throws IOException {
        Path dir = checkpoint(tmp.resolve("hf"), name -> name.contains("self_attn")
                ? new Assignment(ScaleRule.LEARNED, ScaleDtype.BF16, 0.02)      // QAT'd attention with edge-case blocks
                : Assignment.of(ScaleRule.NONE, ScaleDtype.BF16));              // MLP and embeddings never quantization-aware
        Path out = tmp.resolve("q4_0.gguf");
        Map<String, PlannedTensor> plan = convert(dir, out, QatPolicy.Mode.AUTO);
        try (GgufFile f = GgufFile.open(out); SafetensorsCheckpoint ck = SafetensorsCheckpoint.open(dir)) {
            assertThat(f.tensor("token_embd.weight").orElseThrow().type()).isEqualTo(GgmlType.Q8_0);
            assertThat(plan.get("token_embd.weight").decision().rule()).startsWith("qat: q8_0, not on a lattice");
            GgufTensorInfo attn = f.tensor("blk.1.attn_q.weight").orElseThrow();
            assertThat(plan.get(attn.name()).decision().rule()).startsWith("qat: lattice q4_0");
            assertThat(exactBlocks(f, attn, ck, plan.get(attn.name()).hfName())).isGreaterThan(attn.spec().elementCount() / 32 * 95 / 100);
            // non-QAT weights are exactly what llama.cpp's encoder writes
            GgufTensorInfo down = f.tensor("blk.1.ffn_down.weight").orElseThrow();
            assertThat(plan.get(down.name()).decision().rule()).startsWith("qat: llama.cpp q4_0, not on a lattice");
            assertThat(f.tensorData(down).toArray(java.lang.foreign.ValueLayout.JAVA_BYTE)).isEqualTo(referenceQ4_0(ck, plan.get(down.name()).hfName(), down));
            assertThat(f.metadata().getFloat("requant.qat.exact_fraction.attn_q")).hasValueSatisfying(v -> assertThat(v).isBetween(0.95f, 1f));
            assertThat(f.metadata().get("requant.qat.exact_fraction.ffn_down")).isEmpty();
        }
    }

    @Test
    void offIsLlamaCppsRuleEverywhere() throws IOException {
        Path dir = checkpoint(tmp.resolve("hf"), name -> Assignment.of(ScaleRule.LEARNED, ScaleDtype.BF16));
        Path out = tmp.resolve("q4_0.gguf");
        Map<String, PlannedTensor> plan = convert(dir, out, QatPolicy.Mode.OFF);
        try (GgufFile f = GgufFile.open(out); SafetensorsCheckpoint ck = SafetensorsCheckpoint.open(dir)) {
            GgufTensorInfo q = f.tensor("blk.0.attn_q.weight").orElseThrow();
            assertThat(f.tensorData(q).toArray(java.lang.foreign.ValueLayout.JAVA_BYTE)).isEqualTo(referenceQ4_0(ck, plan.get(q.name()).hfName(), q));
            // llama.cpp's max/-8 rule does not keep a learned lattice
            assertThat(exactBlocks(f, q, ck, plan.get(q.name()).hfName())).isLessThan(q.spec().elementCount() / 32 / 2);
            assertThat(f.metadata().keys()).noneMatch(k -> k.startsWith("requant.qat."));
        }
    }

    static byte[] referenceQ4_0(SafetensorsCheckpoint ck, String hfName, GgufTensorInfo t) {
        var e = ck.get(hfName).orElseThrow();
        MemorySegment src = e.file().data(e.tensor());
        int n = Math.toIntExact(t.spec().rowLength());
        long rowBytes = GgmlType.Q4_0.rowBytes(n);
        byte[] out = new byte[Math.toIntExact(t.byteSize())];
        float[] row = new float[n];
        for (long r = 0; r < t.spec().rows(); r++) {
            BlockCodec.of(GgmlType.BF16).decode(src, r * n * 2, row, 0, n);
            BlockCodec.of(GgmlType.Q4_0).encodeRow(row, 0, n, null, MemorySegment.ofArray(out), r * rowBytes);
        }
        return out;
    }

    @Test
    void outputDoesNotDependOnTheThreadCount() throws IOException {
        Path dir = checkpoint(tmp.resolve("hf"), name -> name.contains("mlp")
                ? Assignment.of(ScaleRule.LEARNED, ScaleDtype.FP32) : Assignment.of(ScaleRule.ABSMAX_7, ScaleDtype.BF16));
        byte[][] files = new byte[2][];
        int[] threads = {1, 3};
        for (int i = 0; i < 2; i++) {
            Path out = tmp.resolve("t" + threads[i] + ".gguf");
            QatPolicy qat = new QatPolicy(QatPolicy.Mode.AUTO);
            try (ConversionPlan plan = GemmaPlanner.plan(dir, ConversionSettings.of(FileType.Q4_0), qat.apply(TypePolicy.defaults()))) {
                GgufConversion.write(plan, qat.metadata(plan), out, null, w -> qat.fillIn(w, plan), threads[i]);
            }
            files[i] = java.nio.file.Files.readAllBytes(out);
        }
        assertThat(files[1]).isEqualTo(files[0]);
    }

    /**
     * A NaN or infinity in a BF16 weight is refused while reading (the check runs in the same pass as the BF16
     * widening): one line naming the tensor, row and column, and no output file, through the lattice and through
     * llama.cpp's rule alike.
     */
    @ParameterizedTest
    @EnumSource(value = QatPolicy.Mode.class, names = {"AUTO", "OFF"})
    void nonFiniteWeightIsRefusedNamingRowAndColumn(QatPolicy.Mode mode) throws IOException {
        String bad = "model.layers.1.mlp.down_proj.weight";
        WeightGenerator qat = QatWeights.generator(7, 0.02f, name -> Assignment.of(ScaleRule.LEARNED, ScaleDtype.BF16), WeightGenerator.hashed(7));
        WeightGenerator poisoned = (t, first, dst, n) -> {
            qat.fill(t, first, dst, n);
            long at = 3 * t.shape()[t.shape().length - 1] + 5; // row 3, column 5
            if (t.name().equals(bad) && at >= first && at < first + n) dst[(int) (at - first)] = mode == QatPolicy.Mode.AUTO ? Float.NaN : Float.NEGATIVE_INFINITY;
        };
        Path dir = SyntheticCheckpoint.gemma3().weights(poisoned).write(tmp.resolve("hf"));
        Path out = tmp.resolve("q4_0.gguf");
        org.assertj.core.api.Assertions.assertThatThrownBy(() -> convert(dir, out, mode))
                .isInstanceOf(dev.requant.formats.FormatException.class)
                .hasMessageContaining(bad)
                .hasMessageContaining((mode == QatPolicy.Mode.AUTO ? "NaN" : "-Infinity") + " at row 3, column 5");
        assertThat(out).doesNotExist();
    }
}
