package dev.requant.converter;

import static org.assertj.core.api.Assertions.assertThat;

import dev.requant.formats.gguf.GgufMetadata;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** gguf-py's Metadata heuristics (metadata.py), on names whose outcome is known from published GGUF files. */
class ModelNamingTest {
    @TempDir Path tmp;

    static ModelNaming.IdComponents id(String s, long total) {
        return ModelNaming.IdComponents.of(s, total);
    }

    @Test
    void folderNamesSplitIntoBasenameSizeFinetuneVersion() {
        var g = id("gemma-3-4b-it", 3_880_000_000L);
        assertThat(g.basename()).isEqualTo("gemma-3");
        assertThat(g.sizeLabel()).isEqualTo("4B");
        assertThat(g.finetune()).isEqualTo("it");
        assertThat(g.version()).isNull();
        var q = id("google/gemma-3-27b-it-qat-q4_0-unquantized", 27_000_000_000L);
        assertThat(q.org()).isEqualTo("google");
        assertThat(q.basename()).isEqualTo("gemma-3");
        assertThat(q.sizeLabel()).isEqualTo("27B");
        assertThat(q.finetune()).isEqualTo("it-qat-unquantized");
        var moe = id("gemma-4-26B-A4B-it", 25_000_000_000L);
        assertThat(moe.sizeLabel()).isEqualTo("26B-A4B");
        // a size far from the parameter count is a context length, kept as finetune
        assertThat(id("llama-3-8b-128k", 8_000_000_000L).finetune()).isEqualTo("128k");
        // no size, finetune or version: too ambiguous for a basename
        var tiny = id("gemma3-tiny", 6_167_552L);
        assertThat(tiny.basename()).isNull();
        assertThat(tiny.fullName()).isEqualTo("gemma3-tiny");
    }

    @Test
    void titles() {
        assertThat(ModelNaming.idToTitle("gemma3-tiny")).isEqualTo("Gemma3 Tiny");
        assertThat(ModelNaming.idToTitle("tiny-gemma3")).isEqualTo("Tiny Gemma3");
        assertThat(ModelNaming.idToTitle("gemma-3-4b-it")).isEqualTo("Gemma 3 4b It");
        assertThat(ModelNaming.idToTitle("Mistral-7B-v0.1")).isEqualTo("Mistral 7B v0.1");
    }

    @Test
    void sizeLabelsRoundLikePython() {
        assertThat(ModelNaming.sizeLabel(6_167_552, 6_167_552, 0, 0)).isEqualTo("6.2M");
        assertThat(ModelNaming.sizeLabel(3_880_000_000L, 0, 0, 0)).isEqualTo("3.9B");
        assertThat(ModelNaming.sizeLabel(26_800_000_000L, 0, 0, 0)).isEqualTo("27B");
        assertThat(ModelNaming.sizeLabel(999_999, 0, 0, 0)).isEqualTo("1000K");
        assertThat(ModelNaming.sizeLabel(0, 1_000_000_000L, 250_000_000L, 128)).isEqualTo("128x1.2B");
    }

    @Test
    void modelCardGenerationConfigAndOverride() throws IOException {
        Path dir = Files.createDirectories(tmp.resolve("gemma-3-1b-it"));
        Files.writeString(dir.resolve("README.md"), """
                ---
                license: gemma
                library_name: transformers
                pipeline_tag: text-generation
                base_model: google/gemma-3-1b-pt
                tags:
                - gemma3
                language:
                - en
                - no
                ---
                # Gemma 3
                """);
        Files.writeString(dir.resolve("generation_config.json"), "{\"top_k\": 64, \"top_p\": 0.95, \"temperature\": null}");
        ModelNaming m = ModelNaming.load(dir, null, new long[] {1_000_000_000L, 1_000_000_000L, 0, 0});
        GgufMetadata md = new GgufMetadata();
        m.writeTo(md);
        assertThat(md.keys()).containsExactly("general.sampling.top_k", "general.sampling.top_p", "general.name", "general.finetune",
                "general.basename", "general.size_label", "general.license", "general.base_model.count", "general.base_model.0.name",
                "general.base_model.0.organization", "general.base_model.0.repo_url", "general.tags", "general.languages");
        assertThat(md.getString("general.name")).contains("Gemma 3 1b It");
        assertThat(md.getLong("general.sampling.top_k")).contains(64L);
        assertThat(md.getString("general.base_model.0.name")).contains("Gemma 3 1b Pt");
        assertThat(md.getString("general.base_model.0.repo_url")).contains("https://huggingface.co/google/gemma-3-1b-pt");
        assertThat(md.getArray("general.tags").orElseThrow().strings()).containsExactly("gemma3", "text-generation");
        assertThat(md.getArray("general.languages").orElseThrow().strings()).containsExactly("en", "no");
        assertThat(ModelNaming.load(dir, "My Gemma", new long[] {1, 1, 0, 0}).name()).isEqualTo("My Gemma");
    }
}
