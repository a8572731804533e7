package dev.requant.cli;

import static org.assertj.core.api.Assertions.assertThat;

import dev.requant.formats.ggml.BFloat16;
import dev.requant.formats.ggml.BlockCodec;
import dev.requant.formats.ggml.GgmlType;
import dev.requant.formats.gguf.GgufFile;
import dev.requant.formats.gguf.GgufTensorInfo;
import dev.requant.formats.safetensors.SafetensorsCheckpoint;
import dev.requant.testmodels.Golden;
import dev.requant.testmodels.ReleasedGemma3Layout;
import dev.requant.testmodels.SyntheticCheckpoint;
import dev.requant.testmodels.SyntheticTensor;
import dev.requant.testmodels.WeightGenerator;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.SplittableRandom;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** convert --mmproj and qat-report on Gemma 4 and Gemma 3 multimodal folders, from the command line. */
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

    /**
     * Blocks of 32 on a Q8_0 lattice for {@code onLattice}: codes in [-127, 127] (one of them +-127, so absmax / 127 is
     * the scale) times a power of two, which BF16 and the F16 scale hold exactly; {@code base} for the other tensors.
     */
    private static WeightGenerator q8Lattice(String onLattice, WeightGenerator base) {
        return (t, first, dst, n) -> {
            if (!t.name().equals(onLattice)) {
                base.fill(t, first, dst, n);
                return;
            }
            for (int k = 0; k < n; k++) {
                long i = first + k;
                long block = i / 32;
                float d = Math.scalb(1f, -6 - (int) (block % 3));
                int q = i % 32 == 0 ? (block % 2 == 0 ? 127 : -127) : new SplittableRandom(block * 32 + i).nextInt(-127, 128);
                dst[k] = q * d;
            }
        };
    }

    /**
     * Gemma 3 (SigLIP, released layout) with one vision tensor on a Q8_0 lattice: qat-report reads the projector and finds
     * that class, convert --mmproj --type q8_0 keeps its codes (every value decodes to the stored BF16 bits).
     */
    @Test
    void gemma3ProjectorLatticeIsFoundByQatReportAndKeptByConvert() throws IOException {
        String fc2 = "vision_tower.vision_model.encoder.layers.0.mlp.fc2.weight";
        Path dir = SyntheticCheckpoint.gemma3().style(SyntheticCheckpoint.ConfigStyle.SPARSE_MULTIMODAL).layers(1).hiddenSize(64)
                .tensors(list -> {
                    List<SyntheticTensor> out = new ArrayList<>(list);
                    out.add(new SyntheticTensor(fc2, new long[] {16, 64}, out.getFirst().dtype(), false));
                    out.add(new SyntheticTensor("vision_tower.vision_model.encoder.layers.0.self_attn.q_proj.weight", new long[] {16, 32}, out.getFirst().dtype(), false));
                    return out;
                })
                .config(c -> {
                    ((com.fasterxml.jackson.databind.node.ObjectNode) c.get("vision_config")).put("intermediate_size", 64).put("num_hidden_layers", 1)
                            .put("num_attention_heads", 2).put("image_size", 16).put("patch_size", 4);
                    return c;
                })
                .weights(q8Lattice(fc2, WeightGenerator.hashed(5))).write(tmp.resolve("gemma-3-mm"));
        Files.writeString(dir.resolve("preprocessor_config.json"), "{\"image_mean\": [0.5, 0.5, 0.5], \"image_std\": [0.5, 0.5, 0.5], \"image_seq_length\": 4}");
        CliRun report = CliRun.of("qat-report", dir.toString());
        assertThat(report.code()).as(report.err()).isZero();
        assertThat(report.out()).contains("On a Q8_0 lattice (>= 90% exact blocks): v.ffn_down\n").containsPattern("Not on a lattice: .*mm\\.input_projection, v\\.attn_q")
                .containsPattern("v\\.ffn_down +32 .* 100\\.00% +QAT q8_0");
        Path out = tmp.resolve("mmproj.gguf");
        CliRun r = CliRun.of("convert", dir.toString(), "--mmproj", "-o", out.toString(), "--type", "q8_0", "--no-progress");
        assertThat(r.code()).as(r.err()).isZero();
        try (GgufFile f = GgufFile.open(out); SafetensorsCheckpoint ck = SafetensorsCheckpoint.open(dir)) {
            assertThat(f.metadata().getString("clip.projector_type")).contains("gemma3");
            GgufTensorInfo t = f.tensor("v.blk.0.ffn_down.weight").orElseThrow();
            assertThat(t.type()).isEqualTo(GgmlType.Q8_0);
            var e = ck.get(fc2).orElseThrow();
            float[] stored = new float[(int) e.tensor().elementCount()];
            e.tensor().dtype().toFloats(e.file().data(e.tensor()), 0, stored, 0, stored.length);
            float[] got = new float[stored.length];
            BlockCodec.of(GgmlType.Q8_0).decode(f.tensorData(t), 0, got, 0, got.length);
            for (int i = 0; i < got.length; i++) assertThat(BFloat16.round(got[i])).as("v.blk.0.ffn_down.weight[%d]", i).isEqualTo(stored[i]);
            assertThat(f.tensor("mm.input_projection.weight").orElseThrow().type()).isEqualTo(GgmlType.F16); // forced, as the Python converter does
        }
    }

    /**
     * From the command line, with the default --qat auto, the Gemma 3 projector is still byte-identical to
     * convert_hf_to_gguf.py --mmproj (testmodels/mmproj/data, the released-layout references of MmprojReferenceTest).
     */
    @Test
    void gemma3ReferenceFromTheCommandLine() throws IOException {
        Path data = Golden.projectRoot().resolve("testmodels/mmproj/data");
        Path dir = ReleasedGemma3Layout.write(data.resolve("gemma3-mm-tiny"), tmp.resolve("released").resolve("gemma3-mm-tiny"));
        for (String type : List.of("f16", "q8_0")) {
            Path out = tmp.resolve("mmproj-" + type + ".gguf");
            CliRun r = CliRun.of("convert", dir.toString(), "--mmproj", "-o", out.toString(), "--type", type, "--no-progress");
            assertThat(r.code()).as(r.err()).isZero();
            assertThat(Files.mismatch(data.resolve("gemma3-mm-tiny-released.mmproj-" + type + ".gguf"), out)).as(type).isEqualTo(-1L);
        }
    }
}
