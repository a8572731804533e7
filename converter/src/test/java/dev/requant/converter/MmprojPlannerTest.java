package dev.requant.converter;

import dev.requant.formats.gguf.FileType;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.requant.formats.FormatException;
import dev.requant.formats.ggml.BFloat16;
import dev.requant.formats.ggml.GgmlType;
import dev.requant.formats.gguf.GgufFile;
import dev.requant.formats.io.LittleEndian;
import dev.requant.formats.safetensors.SafetensorsCheckpoint;
import dev.requant.testmodels.SyntheticCheckpoint;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The Gemma 3 mmproj plan on a synthetic released-style (sparse) checkpoint: names, types, the norm + 1, the clip keys.
 * (Byte identity against convert_hf_to_gguf.py --mmproj, on a tiny checkpoint made by transformers: MmprojReferenceTest.)
 */
class MmprojPlannerTest {
    @TempDir Path tmp;

    @Test
    void gemma3ProjectorFollowsTheRulesOfTheMmprojConverter() throws IOException {
        Path dir = SyntheticCheckpoint.gemma3().style(SyntheticCheckpoint.ConfigStyle.SPARSE_MULTIMODAL).write(tmp.resolve("mm"));
        Files.writeString(dir.resolve("preprocessor_config.json"), "{\"image_mean\": [0.5, 0.5, 0.5], \"image_std\": [0.5, 0.5, 0.5], \"image_seq_length\": 256}");
        Path out = tmp.resolve("mmproj.gguf");
        try (ConversionPlan plan = MmprojPlanner.plan(dir, ConversionSettings.of(FileType.F16))) {
            assertThat(plan.dropped()).anyMatch(n -> n.startsWith("model.language_model."));
            GgufConversion.write(plan, out, null);
        }
        try (GgufFile f = GgufFile.open(out); SafetensorsCheckpoint ck = SafetensorsCheckpoint.open(dir)) {
            var md = f.metadata();
            assertThat(md.getString("general.architecture")).contains("clip");
            assertThat(md.getString("general.type")).contains("mmproj");
            assertThat(md.getString("clip.projector_type")).contains("gemma3");
            assertThat(md.getLong("clip.vision.embedding_length")).contains(16L);
            assertThat(md.getLong("clip.vision.image_size")).contains(896L);  // SigLIP's Gemma 3 default
            assertThat(md.getLong("clip.vision.projection_dim")).isPresent();
            assertThat(md.contains("clip.vision.projector.scale_factor")).isFalse(); // 896/14/16 = 4, the default
            assertThat(f.tensors().stream().map(t -> t.name()).toList())
                    .containsExactlyInAnyOrder("mm.input_projection.weight", "mm.soft_emb_norm.weight", "v.patch_embd.weight", "v.post_ln.weight");
            assertThat(f.tensor("mm.input_projection.weight").orElseThrow().type()).isEqualTo(GgmlType.F16);
            assertThat(f.tensor("v.patch_embd.weight").orElseThrow().type()).isEqualTo(GgmlType.F32);
            assertThat(f.tensor("v.patch_embd.weight").orElseThrow().ne()).containsExactly(4, 4, 3, 16);
            var norm = f.tensor("mm.soft_emb_norm.weight").orElseThrow();
            var src = ck.get("multi_modal_projector.mm_soft_emb_norm.weight").orElseThrow();
            for (int i = 0; i < 16; i++) {
                float w = BFloat16.toFloat(src.file().data(src.tensor()).get(LittleEndian.SHORT, 2L * i));
                assertThat(f.tensorData(norm).get(LittleEndian.FLOAT, 4L * i)).isEqualTo(w + 1f);
            }
        }
    }

    @Test
    void refusesWhatItCannotWrite() throws IOException {
        Path text = SyntheticCheckpoint.gemma3().layers(1).write(tmp.resolve("text"));
        assertThatThrownBy(() -> MmprojPlanner.plan(text, ConversionSettings.of(FileType.F16))).isInstanceOf(FormatException.class)
                .hasMessageContaining("Gemma3ForCausalLM");
        Path noPre = SyntheticCheckpoint.gemma3().style(SyntheticCheckpoint.ConfigStyle.SPARSE_MULTIMODAL).write(tmp.resolve("mm"));
        assertThatThrownBy(() -> MmprojPlanner.plan(noPre, ConversionSettings.of(FileType.F16))).isInstanceOf(FormatException.class)
                .hasMessageContaining("preprocessor_config.json").hasMessageContaining("image_mean");
    }
}
