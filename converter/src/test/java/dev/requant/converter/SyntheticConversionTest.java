package dev.requant.converter;

import dev.requant.formats.gguf.FileType;
import static org.assertj.core.api.Assertions.assertThat;

import dev.requant.formats.ggml.GgmlType;
import dev.requant.formats.gguf.GgufArray;
import dev.requant.formats.gguf.GgufFile;
import dev.requant.formats.gguf.GgufMetadata;
import dev.requant.formats.gguf.GgufTensorInfo;
import dev.requant.formats.manifest.GgufManifest;
import dev.requant.formats.tokenizer.Tokenizer;
import dev.requant.testmodels.Golden;
import dev.requant.llamacpp.LlamaCppEngine;
import dev.requant.testmodels.LlamaCppProbe;
import dev.requant.testmodels.SyntheticCheckpoint;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** Synthetic checkpoints (testmodels) exercise the layouts the golden folders do not: shards, sparse configs, MoE... */
class SyntheticConversionTest {
    @TempDir Path tmp;

    static Path convert(Path dir, FileType type, Path out) throws IOException {
        try (ConversionPlan plan = GemmaPlanner.plan(dir, ConversionSettings.of(type))) {
            GgufConversion.write(plan, out, null);
        }
        return out;
    }

    static Map<String, String> hashes(Path gguf) throws IOException {
        Map<String, String> m = new LinkedHashMap<>();
        try (GgufFile f = GgufFile.open(gguf)) {
            for (GgufTensorInfo t : f.tensors()) m.put(t.name(), t.type() + " " + Arrays.toString(t.ne()) + " " + GgufManifest.sha256(f.tensorData(t)));
        }
        return m;
    }

    @Test
    void shardsAndIndexGiveTheSameGgufAsOneFile() throws IOException {
        Path one = SyntheticCheckpoint.gemma3().layers(3).write(tmp.resolve("one"));
        Path many = SyntheticCheckpoint.gemma3().layers(3).maxShardBytes(300_000).write(tmp.resolve("many"));
        assertThat(many.resolve("model.safetensors.index.json")).exists();
        assertThat(Files.list(many).filter(p -> p.getFileName().toString().endsWith(".safetensors")).count()).isGreaterThan(3);
        Map<String, String> a = hashes(convert(one, FileType.BF16, tmp.resolve("one.gguf")));
        Map<String, String> b = hashes(convert(many, FileType.BF16, tmp.resolve("many.gguf")));
        assertThat(b.keySet()).containsExactlyInAnyOrderElementsOf(a.keySet());
        assertThat(b).isEqualTo(a);
    }

    @Test
    void sparseMultimodalGemma3ConfigGetsTransformersDefaultsAndDropsTheVisionTower() throws IOException {
        Path dir = SyntheticCheckpoint.gemma3().layers(2).style(SyntheticCheckpoint.ConfigStyle.SPARSE_MULTIMODAL).write(tmp.resolve("g3mm"));
        try (ConversionPlan plan = GemmaPlanner.plan(dir, ConversionSettings.auto())) {
            GgufMetadata md = plan.metadata();
            assertThat(plan.config().hfClass()).isEqualTo("Gemma3ForConditionalGeneration");
            assertThat(md.getLong("gemma3.attention.head_count")).contains(8L);
            assertThat(md.getLong("gemma3.attention.head_count_kv")).contains(4L);
            assertThat(md.getLong("gemma3.attention.key_length")).contains(256L);
            assertThat(md.getLong("gemma3.context_length")).contains(131072L);
            assertThat(md.getString("gemma3.rope.scaling.type")).contains("linear");
            assertThat(md.getFloat("gemma3.rope.scaling.factor")).contains(8f);
            assertThat(md.getFloat("gemma3.rope.freq_base_swa")).contains(10000f);
            assertThat(plan.settings().outType()).isEqualTo(FileType.BF16);
            assertThat(plan.dropped()).hasSize(4).allMatch(n -> n.startsWith("vision_tower") || n.startsWith("multi_modal_projector"));
            assertThat(plan.tensors()).extracting(PlannedTensor::ggufName).contains("token_embd.weight", "blk.1.attn_q.weight")
                    .noneMatch(n -> n.contains("language_model") || n.contains("vision"));
            // the eos list [1, 106] in config.json is not an int: eos falls back to nothing from config.json
            assertThat(md.getLong("tokenizer.ggml.bos_token_id")).isEmpty();
        }
    }

    @Test
    void gemma4TokenizerJsonGivesTheGemma4Vocabulary() throws IOException {
        Path dir = SyntheticCheckpoint.gemma4().layers(2).tokenizerJson().write(tmp.resolve("g4json"));
        try (ConversionPlan plan = GemmaPlanner.plan(dir, ConversionSettings.of(FileType.BF16))) {
            GgufMetadata md = plan.metadata();
            assertThat(md.getString("tokenizer.ggml.model")).contains("gemma4");
            assertThat(md.contains("tokenizer.ggml.pre")).isFalse();
            GgufArray merges = md.getArray("tokenizer.ggml.merges").orElseThrow();
            assertThat(merges.length()).isGreaterThan(500);
            assertThat(md.getArray("tokenizer.ggml.scores").orElseThrow().floats()).containsOnly(-1000f);
            assertThat(md.getBool("tokenizer.ggml.add_bos_token")).contains(true);
            int[] types = md.getArray("tokenizer.ggml.token_type").orElseThrow().ints();
            assertThat(types[0]).isEqualTo(3);   // <pad>: special added token
            assertThat(types[7]).isEqualTo(6);   // <0x00>
            String text = "def f(x):\n    return x  + 1  # tabs\tand ünïcödé 😀\n\n\nend";
            int[] ids = Tokenizer.fromMetadata(md).encode(text, true, false);
            assertThat(ids[0]).isEqualTo(2);
            assertThat(Tokenizer.fromMetadata(md).decode(ids, false)).isEqualTo(text);
        }
    }

    /** Each variant converts, loads in llama.cpp and gives finite logits; tokenization agrees for the gemma4 vocabulary. */
    @Test
    void gemma4VariantsRunInLlamaCpp() throws IOException {
        LlamaCppEngine probe = LlamaCppProbe.forTests();
        Map<String, SyntheticCheckpoint.Builder> variants = new LinkedHashMap<>();
        variants.put("moe", SyntheticCheckpoint.gemma4().layers(6).perLayerInput(16).moe(4, 2, 128));
        variants.put("k_eq_v", SyntheticCheckpoint.gemma4().layers(6).kEqV(1).globalHeadDimKey());
        variants.put("shared_kv_double_wide", SyntheticCheckpoint.gemma4().layers(8).sharedKvLayers(2).doubleWideMlp().perLayerInput(16));
        variants.put("unified_multimodal", SyntheticCheckpoint.gemma4Unified().layers(6).style(SyntheticCheckpoint.ConfigStyle.SPARSE_MULTIMODAL));
        variants.put("tokenizer_json", SyntheticCheckpoint.gemma4().layers(6).tokenizerJson());
        int[] ids = {2, 665, 457, 337, 269, 358, 583, 303, 269, 379};
        for (var e : variants.entrySet()) {
            Path dir = e.getValue().write(tmp.resolve(e.getKey()));
            Path gguf = convert(dir, FileType.BF16, tmp.resolve(e.getKey() + ".gguf"));
            float[][] logits = probe.logits(gguf, ids);
            assertThat(logits).as(e.getKey()).hasNumberOfRows(ids.length);
            for (float[] row : logits) {
                assertThat(row).as(e.getKey()).hasSize(1024);
                for (float v : row) assertThat(Float.isFinite(v)).as(e.getKey() + " logit finite").isTrue();
            }
            if (e.getKey().equals("tokenizer_json")) {
                String text = Files.readString(Golden.text("calibration.txt")).substring(0, 200_000);
                try (GgufFile f = GgufFile.open(gguf)) {
                    Tokenizer ours = Tokenizer.fromMetadata(f.metadata());
                    for (boolean special : new boolean[] {false, true}) {
                        int[] want = probe.tokenize(gguf, text, special);
                        assertThat(Arrays.mismatch(want, ours.encode(text, false, special))).as("gemma4 BPE tokens, special=" + special).isEqualTo(-1);
                    }
                }
            }
        }
    }

    @Test
    void moeTensorsAndKeys() throws IOException {
        Path dir = SyntheticCheckpoint.gemma4().layers(6).moe(4, 2, 64).write(tmp.resolve("moe"));
        try (ConversionPlan plan = GemmaPlanner.plan(dir, ConversionSettings.of(FileType.Q8_0))) {
            GgufMetadata md = plan.metadata();
            assertThat(md.getLong("gemma4.expert_count")).contains(4L);
            assertThat(md.getLong("gemma4.expert_used_count")).contains(2L);
            assertThat(md.getLong("gemma4.expert_feed_forward_length")).contains(64L);
            PlannedTensor gu = plan.tensor("blk.0.ffn_gate_up_exps.weight").orElseThrow();
            assertThat(gu.recipe().ne()).containsExactly(256, 128, 4);
            assertThat(gu.decision().type()).isEqualTo(GgmlType.Q8_0);
            assertThat(plan.tensor("blk.0.ffn_gate_inp.weight").orElseThrow().decision().type()).isEqualTo(GgmlType.F32);
            assertThat(plan.tensor("blk.0.ffn_gate_inp.scale").orElseThrow().decision().type()).isEqualTo(GgmlType.F32);
            assertThat(plan.tensor("blk.0.ffn_down_exps.scale").orElseThrow().recipe().ne()).containsExactly(4);
            // size label from the parameter count, experts counted as gguf-py does
            assertThat(md.getString("general.size_label").orElseThrow()).startsWith("4x");
        }
    }
}
