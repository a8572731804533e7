package dev.requant.cli;

import static org.assertj.core.api.Assertions.assertThat;

import dev.requant.formats.ggml.GgmlType;
import dev.requant.formats.gguf.GgufFile;
import dev.requant.testmodels.SyntheticCheckpoint;
import dev.requant.testmodels.SyntheticTensor;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** convert --mmproj and qat-report on a Gemma 4 multimodal folder, from the command line. */
class MmprojCommandTest {
    @TempDir Path tmp;

    private Path gemma4() throws IOException {
        Path dir = SyntheticCheckpoint.gemma4().style(SyntheticCheckpoint.ConfigStyle.SPARSE_MULTIMODAL).layers(2).hiddenSize(64)
                .tensors(list -> {
                    List<SyntheticTensor> out = new ArrayList<>();
                    for (SyntheticTensor t : list) if (t.name().contains("language_model.")) out.add(t);
                    out.add(new SyntheticTensor("model.vision_tower.encoder.layers.0.mlp.up_proj.linear.weight", new long[] {64, 32}, out.getFirst().dtype(), true));
                    out.add(new SyntheticTensor("model.embed_vision.embedding_projection.weight", new long[] {64, 32}, out.getFirst().dtype(), true));
                    out.add(new SyntheticTensor("model.audio_tower.output_proj.weight", new long[] {32, 32}, out.getFirst().dtype(), true));
                    return out;
                })
                .config(c -> {
                    c.putObject("vision_config").put("hidden_size", 32).put("intermediate_size", 64).put("num_hidden_layers", 1).put("num_attention_heads", 2);
                    c.putObject("audio_config").put("hidden_size", 32).put("num_hidden_layers", 1).put("num_attention_heads", 2);
                    return c;
                }).write(tmp.resolve("gemma-4-mm"));
        Files.writeString(dir.resolve("preprocessor_config.json"), "{\"image_mean\": [0.5, 0.5, 0.5], \"image_std\": [0.5, 0.5, 0.5]}");
        return dir;
    }

    @Test
    void convertWritesTheGemma4ProjectorAndQatReportReadsIt() throws IOException {
        Path dir = gemma4();
        Path out = tmp.resolve("mmproj.gguf");
        CliRun r = CliRun.of("convert", dir.toString(), "--mmproj", "-o", out.toString(), "--type", "q8_0", "--no-progress");
        assertThat(r.code()).as(r.err()).isZero();
        try (GgufFile f = GgufFile.open(out)) {
            assertThat(f.metadata().getString("general.architecture")).contains("clip");
            assertThat(f.metadata().getString("clip.vision.projector_type")).contains("gemma4v");
            assertThat(f.metadata().getString("clip.audio.projector_type")).contains("gemma4a");
            assertThat(f.tensor("v.blk.0.ffn_up.weight").orElseThrow().type()).isEqualTo(GgmlType.Q8_0);
            assertThat(f.tensor("a.pre_encode.out.weight")).isPresent(); // renamed to conformer.output_proj before the name map
        }
        CliRun dry = CliRun.of("convert", dir.toString(), "--mmproj", "--type", "f16", "--dry-run");
        assertThat(dry.code()).as(dry.err()).isZero();
        assertThat(dry.out()).contains("-> GGUF clip").contains("vocabulary: none").containsPattern("v\\.blk\\.0\\.ffn_up\\.weight .* F16");
        CliRun report = CliRun.of("qat-report", dir.toString());
        assertThat(report.code()).as(report.err()).isZero();
        assertThat(report.out()).contains("v.ffn_up").contains("mm.input_projection").contains("q8_0 exact");
        // without preprocessor_config.json the projector cannot be planned: the text model is still reported, with a note
        Files.delete(dir.resolve("preprocessor_config.json"));
        CliRun textOnly = CliRun.of("qat-report", dir.toString());
        assertThat(textOnly.code()).as(textOnly.err()).isZero();
        assertThat(textOnly.err()).contains("projector not analysed").contains("preprocessor_config.json");
        assertThat(textOnly.out()).contains("attn_q").doesNotContain("v.ffn_up");
        // a text-only folder is not a projector
        Path text = SyntheticCheckpoint.gemma3().layers(1).write(tmp.resolve("text"));
        CliRun refused = CliRun.of("convert", text.toString(), "--mmproj", "-o", tmp.resolve("x.gguf").toString());
        assertThat(refused.code()).isNotZero();
        assertThat(refused.err()).contains("config.json").contains("Gemma3ForCausalLM");
        assertThat(tmp.resolve("x.gguf")).doesNotExist();
    }
}
