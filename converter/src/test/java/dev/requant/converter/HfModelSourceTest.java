package dev.requant.converter;

import dev.requant.formats.gguf.FileType;
import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import com.fasterxml.jackson.databind.JsonNode;
import dev.requant.formats.ggml.GgmlType;
import dev.requant.formats.gguf.GgufTensorSpec;
import dev.requant.formats.manifest.GgufManifest;
import dev.requant.formats.model.GgufModelSource;
import dev.requant.formats.model.ModelSource;
import dev.requant.testmodels.Golden;
import java.io.IOException;
import java.lang.foreign.MemorySegment;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.NoSuchElementException;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class HfModelSourceTest {
    @TempDir Path tmp;

    @Test
    void viewsTheFolderAsTheBf16ConversionWithoutWritingIt() throws IOException {
        JsonNode manifest = GoldenConversionTest.JSON.readTree(Golden.llamacpp("gemma3-tiny.bf16.manifest.json").toFile());
        try (HfModelSource m = HfModelSource.open(Golden.hf("gemma3-tiny"))) {
            // gguf-py's folder-name heuristic: "gemma3-tiny" is titled "Gemma3 Tiny"; the golden was made from a
            // folder named "tiny-gemma3", hence its "Tiny Gemma3".
            assertThat(m.metadata().getString("general.name")).contains("Gemma3 Tiny");
            JsonNode kv = manifest.get("kv");
            for (var e : kv.properties()) {
                if (e.getKey().startsWith("GGUF.") || e.getKey().equals("general.name")) continue;
                assertThat(m.metadata().contains(e.getKey())).as(e.getKey()).isTrue();
            }
            assertThat(m.tensors()).hasSize(manifest.get("tensors").size());
            for (JsonNode t : manifest.get("tensors")) {
                String name = t.get("name").asText();
                GgufTensorSpec spec = m.tensor(name).orElseThrow();
                assertThat(spec.type().name()).as(name).isEqualTo(t.get("type").asText());
                assertThat(GgufManifest.sha256(m.data(name))).as(name).isEqualTo(t.get("sha256").asText());
            }
            // 2-D BF16 weights are slices of the safetensors mapping, not copies
            MemorySegment q = m.data("blk.0.attn_q.weight");
            assertThat(q.isMapped()).isTrue();
            assertThat(m.tensor("blk.0.attn_norm.weight").orElseThrow().type()).isEqualTo(GgmlType.F32);
            assertThat(m.data("blk.0.attn_norm.weight").isMapped()).isFalse();
            assertThatThrownBy(() -> m.data("blk.9.attn_q.weight")).isInstanceOf(NoSuchElementException.class);
        }
    }

    @Test
    void gemma4SourceHasRopeFreqsAndLayerScalars() throws IOException {
        try (HfModelSource m = HfModelSource.open(Golden.hf("gemma4-tiny"))) {
            assertThat(m.tensors().getFirst().name()).isEqualTo("rope_freqs.weight");
            MemorySegment rf = m.data("rope_freqs.weight");
            float[] v = rf.toArray(dev.requant.formats.io.LittleEndian.FLOAT);
            // global head dim 128 (per_layer_config), partial_rotary_factor 0.25: 16 rotated pairs of 64
            assertThat(v).hasSize(64);
            assertThat(Arrays.copyOfRange(v, 0, 16)).containsOnly(1f);
            assertThat(Arrays.copyOfRange(v, 16, 64)).containsOnly(1e30f);
            assertThat(m.tensor("blk.5.layer_output_scale.weight").orElseThrow().type()).isEqualTo(GgmlType.F32);
            assertThat(m.metadata().getLong("gemma4.attention.key_length")).contains(128L);
            assertThat(m.metadata().getLong("gemma4.attention.key_length_swa")).contains(64L);
            assertThat(m.metadata().getLong("gemma4.embedding_length_per_layer_input")).contains(32L);
        }
    }

    @Test
    void f16CheckpointAutoTypeCopiesF16AndComputesTheRest() throws IOException {
        Path dir = dev.requant.testmodels.SyntheticCheckpoint.gemma3().layers(1)
                .dtype(dev.requant.formats.safetensors.SafetensorsDtype.F16).write(tmp.resolve("f16"));
        try (HfModelSource m = HfModelSource.open(dir, ConversionSettings.auto())) {
            assertThat(m.plan().settings().outType()).isEqualTo(FileType.F16);
            assertThat(m.metadata().getLong("general.file_type")).contains(1L);
            assertThat(m.tensor("blk.0.attn_q.weight").orElseThrow().type()).isEqualTo(GgmlType.F16);
            assertThat(m.data("blk.0.attn_q.weight").isMapped()).isTrue();
            // Gemma 3 norm + 1 is done in float16 for float16 sources (torch adds in the tensor's dtype)
            var raw = m.plan().checkpoint().get("model.layers.0.input_layernorm.weight").orElseThrow();
            short h = raw.file().data(raw.tensor()).get(dev.requant.formats.io.LittleEndian.SHORT, 0);
            float want = dev.requant.formats.ggml.Float16.round(dev.requant.formats.ggml.Float16.toFloat(h) + 1f);
            assertThat(m.data("blk.0.attn_norm.weight").get(dev.requant.formats.io.LittleEndian.FLOAT, 0)).isEqualTo(want);
        }
        try (HfModelSource m = HfModelSource.open(dir, ConversionSettings.of(FileType.F32))) {
            assertThat(m.data("blk.0.attn_q.weight").isMapped()).isFalse();
            assertThat(m.data("blk.0.attn_q.weight").byteSize()).isEqualTo(4L * 256 * 256);
        }
    }

    @Test
    void modelSourcesOpensFoldersAndGgufFiles() throws IOException {
        Path out = tmp.resolve("m.gguf");
        try (ConversionPlan plan = GemmaPlanner.plan(Golden.hf("gemma3-tiny"), ConversionSettings.of(FileType.BF16))) {
            GgufConversion.write(plan, out, null);
        }
        try (ModelSource folder = ModelSources.open(Golden.hf("gemma3-tiny")); ModelSource file = ModelSources.open(out)) {
            assertThat(folder).isInstanceOf(HfModelSource.class);
            assertThat(file).isInstanceOf(GgufModelSource.class);
            assertThat(file.metadata()).isEqualTo(folder.metadata());
            assertThat(file.tensors()).isEqualTo(folder.tensors());
            for (GgufTensorSpec s : folder.tensors()) {
                assertThat(file.data(s.name()).mismatch(folder.data(s.name()))).as(s.name()).isEqualTo(-1L);
            }
        }
    }
}
