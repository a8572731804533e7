package dev.requant.converter;

import dev.requant.formats.gguf.FileType;
import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.requant.testmodels.SyntheticCheckpoint;
import java.io.IOException;
import java.io.RandomAccessFile;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.util.List;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Bad input fails with one clear message that names the file, and leaves no output (not even a temporary file).
 */
class BadInputTest {
    @TempDir Path tmp;

    Path model(SyntheticCheckpoint.Builder b) throws IOException {
        return b.write(tmp.resolve("m"));
    }

    /** Converts into a fresh output folder; returns the exception and checks that the folder stayed empty. */
    Throwable failure(Path dir) throws IOException {
        Path outDir = Files.createDirectories(tmp.resolve("out"));
        Path out = outDir.resolve("x.gguf");
        Throwable t = null;
        try (ConversionPlan plan = GemmaPlanner.plan(dir, ConversionSettings.of(FileType.BF16))) {
            GgufConversion.write(plan, out, null);
        } catch (IOException | RuntimeException e) {
            t = e;
        }
        assertThat(t).as("conversion of a bad folder must fail").isNotNull();
        try (Stream<Path> s = Files.list(outDir)) {
            assertThat(s.toList()).as("files left in the output folder").isEmpty();
        }
        assertThat(t.getMessage()).doesNotContain("\n");
        return t;
    }

    @Test
    void missingConfig() throws IOException {
        Path dir = model(SyntheticCheckpoint.gemma3().layers(1));
        Files.delete(dir.resolve("config.json"));
        assertThat(failure(dir)).isInstanceOf(NoSuchFileException.class).hasMessageContaining("config.json");
    }

    @Test
    void missingWeights() throws IOException {
        Path dir = model(SyntheticCheckpoint.gemma3().layers(1));
        Files.delete(dir.resolve("model.safetensors"));
        assertThat(failure(dir)).hasMessageContaining(dir.toString()).hasMessageContaining("no weights");
    }

    @Test
    void unknownArchitecture() throws IOException {
        Path dir = model(SyntheticCheckpoint.gemma3().layers(1).config(c -> {
            c.putArray("architectures").add("LlamaForCausalLM");
            return c;
        }));
        assertThat(failure(dir)).hasMessageContaining("config.json").hasMessageContaining("'LlamaForCausalLM' is not supported");
    }

    @Test
    void tensorShapeDisagreesWithConfig() throws IOException {
        Path dir = model(SyntheticCheckpoint.gemma3().layers(1).config(c -> c.put("intermediate_size", 640)));
        assertThat(failure(dir)).hasMessageContaining("model.safetensors").hasMessageContaining("mlp.down_proj.weight")
                .hasMessageContaining("[256, 512]").hasMessageContaining("config.json implies [256, 640]");
    }

    @Test
    void truncatedShard() throws IOException {
        Path dir = model(SyntheticCheckpoint.gemma3().layers(2).maxShardBytes(400_000));
        Path shard = dir.resolve("model-00002-of-" + shardCount(dir) + ".safetensors");
        try (RandomAccessFile f = new RandomAccessFile(shard.toFile(), "rw")) {
            f.setLength(f.length() - 1000);
        }
        assertThat(failure(dir)).hasMessageContaining(shard.getFileName().toString()).hasMessageContaining("truncated");
    }

    @Test
    void missingShardNamedByTheIndex() throws IOException {
        Path dir = model(SyntheticCheckpoint.gemma3().layers(2).maxShardBytes(400_000));
        String name = "model-00002-of-" + shardCount(dir) + ".safetensors";
        Files.delete(dir.resolve(name));
        assertThat(failure(dir)).hasMessageContaining("model.safetensors.index.json").hasMessageContaining(name).hasMessageContaining("missing");
    }

    @Test
    void layerMissingFromTheWeights() throws IOException {
        Path dir = model(SyntheticCheckpoint.gemma3().layers(2).config(c -> c.put("num_hidden_layers", 3).set("layer_types",
                c.arrayNode().add("sliding_attention").add("sliding_attention").add("sliding_attention"))));
        assertThat(failure(dir)).hasMessageContaining("model.safetensors").hasMessageContaining("missing").hasMessageContaining("blk.2.");
    }

    @Test
    void configValuesThatMakeNoSense() throws IOException {
        List<java.util.function.UnaryOperator<ObjectNode>> edits = List.of(
                c -> c.put("hidden_size", "big"),
                c -> c.set("layer_types", c.arrayNode().add("sliding_attention").add("full_attention")),
                c -> c.put("hidden_activation", "relu"),
                c -> c.put("attn_logit_softcapping", 50.0),
                c -> { ((ObjectNode) c.get("rope_parameters").get("full_attention")).put("rope_type", "yarn"); return c; });
        for (int i = 0; i < edits.size(); i++) {
            Path dir = SyntheticCheckpoint.gemma3().layers(1).config(edits.get(i)).write(tmp.resolve("c" + i));
            assertThatThrownBy(() -> GemmaPlanner.plan(dir, ConversionSettings.of(FileType.BF16)).close())
                    .as("edit " + i).hasMessageStartingWith(dir.resolve("config.json").toString());
        }
    }

    @Test
    void gemma4PerLayerConfigThatLlamaCppCannotHold() throws IOException {
        Path a = SyntheticCheckpoint.gemma4().layers(6).config(c -> {
            ((ObjectNode) c.get("per_layer_config")).putObject("0").put("sliding_window", 7);
            return c;
        }).write(tmp.resolve("a"));
        assertThatThrownBy(() -> GemmaPlanner.plan(a, ConversionSettings.of(FileType.BF16)).close())
                .hasMessageContaining("config.json").hasMessageContaining("per_layer_config.0.sliding_window is not supported");
        Path b = SyntheticCheckpoint.gemma4().layers(6).config(c -> {
            ((ObjectNode) c.get("per_layer_config")).putObject("0").put("head_dim", 32);
            return c;
        }).write(tmp.resolve("b"));
        assertThatThrownBy(() -> GemmaPlanner.plan(b, ConversionSettings.of(FileType.BF16)).close())
                .hasMessageContaining("config.json").hasMessageContaining("sliding-attention layers have different head dims");
    }

    @Test
    void badTokenizerFiles() throws IOException {
        Path dir = model(SyntheticCheckpoint.gemma3().layers(1));
        byte[] spm = Files.readAllBytes(dir.resolve("tokenizer.model"));
        Files.write(dir.resolve("tokenizer.model"), java.util.Arrays.copyOf(spm, spm.length / 2));
        assertThat(failure(dir)).hasMessageContaining("tokenizer.model");
        Files.delete(dir.resolve("tokenizer.model"));
        assertThat(failure(dir)).hasMessageContaining("no tokenizer.model");
    }

    @Test
    void tensorWithoutAGgufName() throws IOException {
        Path dir = model(SyntheticCheckpoint.gemma3().layers(1).tensors(l -> {
            var out = new java.util.ArrayList<>(l);
            out.add(l.getFirst().withName("model.layers.0.mystery.weight"));
            return out;
        }));
        assertThat(failure(dir)).hasMessageContaining("model.safetensors").hasMessageContaining("model.layers.0.mystery.weight");
    }

    private static String shardCount(Path dir) throws IOException {
        try (Stream<Path> s = Files.list(dir)) {
            long n = s.filter(p -> p.getFileName().toString().matches("model-\\d+-of-\\d+\\.safetensors")).count();
            return String.format("%05d", n);
        }
    }
}
