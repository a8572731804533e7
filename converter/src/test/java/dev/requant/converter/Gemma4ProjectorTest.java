package dev.requant.converter;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.requant.formats.FormatException;
import dev.requant.formats.ggml.BlockCodec;
import dev.requant.formats.ggml.GgmlType;
import dev.requant.formats.gguf.FileType;
import dev.requant.formats.gguf.GgufFile;
import dev.requant.formats.gguf.GgufTensorInfo;
import dev.requant.formats.safetensors.SafetensorsCheckpoint;
import dev.requant.testmodels.SyntheticCheckpoint;
import dev.requant.testmodels.SyntheticTensor;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.function.UnaryOperator;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Gemma 4 and Gemma 4 unified projectors on synthetic checkpoints with the tensor names transformers writes: the
 * names gguf-py's TensorNameMap gives after the converter's renames, the forced types, the reshapes and permutes
 * (checked value by value against the stored tensors), softplus, and the clip keys in convert_hf_to_gguf.py's order.
 */
class Gemma4ProjectorTest {
    private static final int HIDDEN = 64;

    @TempDir Path tmp;

    private static UnaryOperator<List<SyntheticTensor>> replaceProjector(Map<String, long[]> tensors) {
        return list -> {
            List<SyntheticTensor> out = new ArrayList<>();
            for (SyntheticTensor t : list) if (t.name().contains("language_model.")) out.add(t);
            SyntheticTensor proto = list.getFirst();
            tensors.forEach((name, shape) -> out.add(new SyntheticTensor(name, shape, proto.dtype(), true)));
            return out;
        };
    }

    private Path gemma4(String name) throws IOException {
        Map<String, long[]> t = new java.util.LinkedHashMap<>();
        t.put("model.vision_tower.patch_embedder.input_proj.weight", new long[] {16, 48});
        t.put("model.vision_tower.patch_embedder.position_embedding_table", new long[] {2, 8, 16});
        t.put("model.vision_tower.encoder.layers.0.self_attn.q_proj.linear.weight", new long[] {16, 16});
        t.put("model.vision_tower.encoder.layers.0.self_attn.q_proj.input_max", new long[] {});
        t.put("model.vision_tower.encoder.layers.0.input_layernorm.weight", new long[] {16});
        t.put("model.vision_tower.encoder.layers.0.mlp.down_proj.linear.weight", new long[] {16, 32});
        t.put("model.vision_tower.encoder.layers.0.layer_scalar", new long[] {1});
        t.put("model.vision_tower.std_bias", new long[] {16});
        t.put("model.embed_vision.embedding_projection.weight", new long[] {HIDDEN, 16});
        t.put("model.audio_tower.subsample_conv_projection.layer0.conv.weight", new long[] {8, 1, 3, 3});
        t.put("model.audio_tower.subsample_conv_projection.input_proj_linear.weight", new long[] {16, 32});
        t.put("model.audio_tower.layers.0.self_attn.per_dim_scale", new long[] {8});
        t.put("model.audio_tower.layers.0.lconv1d.depthwise_conv1d.weight", new long[] {16, 1, 5});
        t.put("model.audio_tower.layers.0.feed_forward1.ffw_layer_1.linear.weight", new long[] {64, 16});
        t.put("model.embed_audio.embedding_projection.weight", new long[] {HIDDEN, 16});
        Path dir = SyntheticCheckpoint.gemma4().style(SyntheticCheckpoint.ConfigStyle.SPARSE_MULTIMODAL).layers(2).hiddenSize(HIDDEN)
                .tensors(replaceProjector(t))
                .config(c -> {
                    c.putObject("vision_config").put("hidden_size", 16).put("intermediate_size", 32).put("num_hidden_layers", 1)
                            .put("num_attention_heads", 2).put("patch_size", 4).put("model_type", "gemma4_vision");
                    c.putObject("audio_config").put("hidden_size", 16).put("num_hidden_layers", 1).put("num_attention_heads", 2)
                            .put("model_type", "gemma4_audio");
                    return c;
                }).write(tmp.resolve(name));
        Files.writeString(dir.resolve("preprocessor_config.json"), "{\"image_mean\": [0.0, 0.0, 0.0], \"image_std\": [1.0, 1.0, 1.0]}");
        return dir;
    }

    private Path unified(String name) throws IOException {
        Map<String, long[]> t = new java.util.LinkedHashMap<>();
        t.put("model.vision_embedder.patch_dense.weight", new long[] {HIDDEN, 48});
        t.put("model.vision_embedder.patch_ln1.weight", new long[] {48});
        t.put("model.vision_embedder.patch_ln1.bias", new long[] {48});
        t.put("model.vision_embedder.pos_norm.weight", new long[] {HIDDEN});
        t.put("model.vision_embedder.pos_embedding", new long[] {8, 2, HIDDEN});
        t.put("model.embed_audio.embedding_projection.weight", new long[] {HIDDEN, 64});
        Path dir = SyntheticCheckpoint.gemma4Unified().style(SyntheticCheckpoint.ConfigStyle.SPARSE_MULTIMODAL).layers(2).hiddenSize(HIDDEN)
                .tensors(replaceProjector(t))
                .config(c -> {
                    c.putObject("vision_config").put("patch_size", 2).put("pooling_kernel_size", 2).put("mm_embed_dim", HIDDEN)
                            .put("mm_posemb_size", 8).put("model_type", "gemma4_unified_vision");
                    c.putObject("audio_config").put("audio_embed_dim", 64).put("model_type", "gemma4_unified_audio");
                    return c;
                }).write(tmp.resolve(name));
        Files.writeString(dir.resolve("preprocessor_config.json"), "{\"image_mean\": [0.5, 0.5, 0.5], \"image_std\": [0.5, 0.5, 0.5]}");
        return dir;
    }

    private static Path convert(Path dir, FileType type, Path out) throws IOException {
        try (ConversionPlan plan = MmprojPlanner.plan(dir, ConversionSettings.of(type))) {
            GgufConversion.write(plan, out, null);
        }
        return out;
    }

    private static float[] values(GgufFile f, String name) {
        GgufTensorInfo t = f.tensor(name).orElseThrow(() -> new AssertionError("no tensor " + name));
        long n = 1;
        for (long d : t.ne()) n *= d;
        float[] v = new float[(int) n];
        BlockCodec.of(t.type()).decode(f.tensorData(t), 0, v, 0, v.length);
        return v;
    }

    private static float[] stored(SafetensorsCheckpoint ck, String name) {
        var e = ck.get(name).orElseThrow();
        float[] v = new float[(int) e.tensor().elementCount()];
        e.tensor().dtype().toFloats(e.file().data(e.tensor()), 0, v, 0, v.length);
        return v;
    }

    @Test
    void gemma4VisionAndAudioFollowTheMmprojConverter() throws IOException {
        Path dir = gemma4("g4");
        Path out = convert(dir, FileType.F16, tmp.resolve("g4.f16.gguf"));
        try (GgufFile f = GgufFile.open(out); SafetensorsCheckpoint ck = SafetensorsCheckpoint.open(dir)) {
            var md = f.metadata();
            List<String> keys = md.keys().stream().filter(k -> !k.startsWith("general.") || k.equals("general.file_type")).toList();
            assertThat(keys).containsExactly("general.file_type", "clip.has_vision_encoder", "clip.vision.projection_dim", "clip.vision.image_size",
                    "clip.vision.patch_size", "clip.vision.embedding_length", "clip.vision.feed_forward_length", "clip.vision.block_count",
                    "clip.vision.attention.head_count", "clip.vision.image_mean", "clip.vision.image_std", "clip.has_audio_encoder",
                    "clip.audio.projection_dim", "clip.audio.embedding_length", "clip.audio.feed_forward_length", "clip.audio.block_count",
                    "clip.audio.attention.head_count", "clip.vision.projector_type", "clip.vision.attention.layer_norm_epsilon",
                    "clip.audio.projector_type", "clip.audio.num_mel_bins", "clip.audio.attention.layer_norm_epsilon");
            assertThat(md.keys()).startsWith("general.architecture", "general.type").endsWith("general.quantization_version");
            assertThat(md.getString("clip.vision.projector_type")).contains("gemma4v");
            assertThat(md.getString("clip.audio.projector_type")).contains("gemma4a");
            assertThat(md.getLong("clip.vision.image_size")).contains(224L);
            assertThat(md.getLong("clip.vision.projection_dim")).contains((long) HIDDEN);
            assertThat(md.getLong("clip.audio.feed_forward_length")).contains(64L); // hidden_size * 4
            assertThat(md.getLong("clip.audio.num_mel_bins")).contains(128L);
            assertThat(md.getFloat("clip.vision.attention.layer_norm_epsilon")).contains(1e-6f);

            Map<String, GgmlType> types = new java.util.LinkedHashMap<>();
            f.tensors().forEach(t -> types.put(t.name(), t.type()));
            assertThat(types).containsExactlyInAnyOrderEntriesOf(Map.ofEntries(
                    Map.entry("v.patch_embd.weight", GgmlType.F16), Map.entry("v.position_embd.weight", GgmlType.F32),
                    Map.entry("v.blk.0.attn_q.weight", GgmlType.F16), Map.entry("v.blk.0.attn_q.input_max", GgmlType.F32),
                    Map.entry("v.blk.0.ln1.weight", GgmlType.F32), Map.entry("v.blk.0.ffn_down.weight", GgmlType.F16),
                    Map.entry("v.blk.0.out_scale.weight", GgmlType.F32), Map.entry("v.std_bias", GgmlType.F32),
                    Map.entry("mm.input_projection.weight", GgmlType.F16), Map.entry("a.conv1d.0.weight", GgmlType.F32),
                    Map.entry("a.input_projection.weight", GgmlType.F32), Map.entry("a.blk.0.per_dim_scale.weight", GgmlType.F32),
                    Map.entry("a.blk.0.conv_dw.weight", GgmlType.F32), Map.entry("a.blk.0.ffn_up.weight", GgmlType.F16),
                    Map.entry("mm.a.input_projection.weight", GgmlType.F16)));
            // checkpoint order (names sorted within the file), not the order of the table above
            assertThat(f.tensors().getFirst().name()).isEqualTo("a.blk.0.ffn_up.weight"); // model.audio_tower.layers.0.feed_forward1...

            // [n, p*p*3] HWC -> [n, 3, p, p]
            assertThat(f.tensor("v.patch_embd.weight").orElseThrow().ne()).containsExactly(4, 4, 3, 16);
            float[] src = stored(ck, "model.vision_tower.patch_embedder.input_proj.weight");
            float[] got = values(f, "v.patch_embd.weight");
            for (int e = 0; e < 16; e++) {
                for (int c = 0; c < 3; c++) {
                    for (int y = 0; y < 4; y++) {
                        for (int x = 0; x < 4; x++) {
                            float want = dev.requant.formats.ggml.Float16.round(src[e * 48 + (y * 4 + x) * 3 + c]);
                            assertThat(got[((e * 3 + c) * 4 + y) * 4 + x]).isEqualTo(want);
                        }
                    }
                }
            }
            // scalar -> [1], softplus, depthwise [C, 1, K] -> [C, K]
            assertThat(f.tensor("v.blk.0.attn_q.input_max").orElseThrow().ne()).containsExactly(1);
            assertThat(f.tensor("a.blk.0.conv_dw.weight").orElseThrow().ne()).containsExactly(5, 16);
            float[] pds = stored(ck, "model.audio_tower.layers.0.self_attn.per_dim_scale");
            float[] sp = values(f, "a.blk.0.per_dim_scale.weight");
            // torch's vectorized softplus: SLEEF's exp then SLEEF's log1p, each rounded to float (SleefFloatTest checks those)
            for (int i = 0; i < pds.length; i++) assertThat(sp[i]).isEqualTo(SleefFloat.log1p(SleefFloat.exp(pds[i])));
        }
        // bf16: the patch embedding is F32 (only f16 output keeps it 16-bit); q8_0: rows of 32 are Q8_0, rows of 16 fall back to F16
        try (GgufFile f = GgufFile.open(convert(dir, FileType.BF16, tmp.resolve("g4.bf16.gguf")))) {
            assertThat(f.tensor("v.patch_embd.weight").orElseThrow().type()).isEqualTo(GgmlType.F32);
            assertThat(f.tensor("v.blk.0.attn_q.weight").orElseThrow().type()).isEqualTo(GgmlType.BF16);
        }
        try (GgufFile f = GgufFile.open(convert(dir, FileType.Q8_0, tmp.resolve("g4.q8.gguf")))) {
            assertThat(f.tensor("v.blk.0.ffn_down.weight").orElseThrow().type()).isEqualTo(GgmlType.Q8_0);
            assertThat(f.tensor("v.blk.0.attn_q.weight").orElseThrow().type()).isEqualTo(GgmlType.F16);
            assertThat(f.tensor("v.patch_embd.weight").orElseThrow().type()).isEqualTo(GgmlType.F32);
            assertThat(f.metadata().getLong("general.file_type")).contains(7L);
        }
    }

    @Test
    void unifiedEmbeddersArePermutedToCHW() throws IOException {
        Path dir = unified("u");
        Path out = convert(dir, FileType.F32, tmp.resolve("u.gguf"));
        try (GgufFile f = GgufFile.open(out); SafetensorsCheckpoint ck = SafetensorsCheckpoint.open(dir)) {
            var md = f.metadata();
            assertThat(md.getString("clip.vision.projector_type")).contains("gemma4uv");
            assertThat(md.getString("clip.audio.projector_type")).contains("gemma4ua");
            // the unified class overwrites the projector types in place: same key order as gemma4v/gemma4a
            List<String> keys = new ArrayList<>(md.keys());
            assertThat(keys.indexOf("clip.vision.projector_type")).isEqualTo(keys.indexOf("clip.audio.attention.head_count") + 1);
            assertThat(md.getLong("clip.vision.embedding_length")).contains((long) HIDDEN);
            assertThat(md.getLong("clip.vision.feed_forward_length")).contains(0L);
            assertThat(md.getLong("clip.vision.block_count")).contains(0L);
            assertThat(md.getLong("clip.vision.attention.head_count")).contains(0L);
            assertThat(md.getLong("clip.vision.patch_size")).contains(2L);
            assertThat(md.getLong("clip.audio.embedding_length")).contains(64L);
            assertThat(md.getLong("clip.audio.feed_forward_length")).contains(0L);
            assertThat(f.tensors().stream().map(GgufTensorInfo::name).toList()).containsExactly("mm.a.input_projection.weight",
                    "v.patch_embd.weight", "v.patch_norm.1.bias", "v.patch_norm.1.weight", "v.position_embd.weight", "v.patch_norm.3.weight");

            int p = 4; // patch_size 2 x pooling 2
            float[] dense = stored(ck, "model.vision_embedder.patch_dense.weight");
            float[] got = values(f, "v.patch_embd.weight");
            float[] ln = stored(ck, "model.vision_embedder.patch_ln1.weight");
            float[] lnGot = values(f, "v.patch_norm.1.weight");
            for (int i = 0; i < 3 * p * p; i++) {
                int ch = i / (p * p), row = (i % (p * p)) / p, col = i % p;
                int hwc = row * p * 3 + col * 3 + ch;
                for (int r = 0; r < HIDDEN; r++) assertThat(got[r * 48 + i]).isEqualTo(dense[r * 48 + hwc]);
                assertThat(lnGot[i]).isEqualTo(ln[hwc]);
            }
            // [P, 2, D] -> [2, P, D]
            assertThat(f.tensor("v.position_embd.weight").orElseThrow().ne()).containsExactly(HIDDEN, 8, 2);
            float[] pos = stored(ck, "model.vision_embedder.pos_embedding");
            float[] posGot = values(f, "v.position_embd.weight");
            for (int a = 0; a < 2; a++) {
                for (int i = 0; i < 8; i++) {
                    for (int d = 0; d < HIDDEN; d++) assertThat(posGot[(a * 8 + i) * HIDDEN + d]).isEqualTo(pos[(i * 2 + a) * HIDDEN + d]);
                }
            }
        }
    }

    @Test
    void refusesCheckpointsThePythonConverterRefuses() throws IOException {
        Path dir = gemma4("bad");
        Files.writeString(dir.resolve("config.json"), Files.readString(dir.resolve("config.json")).replace("\"vision_config\"", "\"vision_configX\""));
        assertThatThrownBy(() -> MmprojPlanner.plan(dir, ConversionSettings.of(FileType.F16))).isInstanceOf(FormatException.class)
                .hasMessageContaining("config.json").hasMessageContaining("vision_config");
        Path odd = SyntheticCheckpoint.gemma4().style(SyntheticCheckpoint.ConfigStyle.SPARSE_MULTIMODAL).layers(2)
                .tensors(replaceProjector(Map.of("model.vision_tower.mystery.weight", new long[] {4, 4}))).write(tmp.resolve("odd"));
        Files.writeString(odd.resolve("preprocessor_config.json"), "{\"image_mean\": [0.5], \"image_std\": [0.5]}");
        assertThatThrownBy(() -> MmprojPlanner.plan(odd, ConversionSettings.of(FileType.F16))).isInstanceOf(FormatException.class)
                .hasMessageContaining("model.safetensors").hasMessageContaining("model.vision_tower.mystery.weight").hasMessageContaining("no mmproj GGUF name");
    }
}
