package dev.requant.converter;

import static org.assertj.core.api.Assertions.assertThat;

import dev.requant.formats.gguf.FileType;
import dev.requant.formats.model.GemmaArch;
import dev.requant.formats.model.GemmaConfig;
import dev.requant.formats.model.GgufModelSource;
import dev.requant.formats.model.LayerConfig;
import dev.requant.testmodels.Golden;
import dev.requant.testmodels.SyntheticCheckpoint;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.MethodSource;

/**
 * The converter and the runtime share one description of a Gemma model: the metadata the converter writes, read back
 * through {@link GemmaConfig} (the GGUF view llama.cpp's loader has), gives the shape config.json describes
 * ({@link HfConfig}): layers, heads, KV heads and head dims per layer, the sliding pattern, FFN widths, experts.
 */
class GemmaConfigRoundTripTest {
    @TempDir Path tmp;

    static Stream<Path> goldenCheckpoints() throws IOException {
        try (Stream<Path> s = Files.list(Golden.root().resolve("hf"))) {
            List<Path> dirs = s.filter(Files::isDirectory).sorted().toList();
            assertThat(dirs).as("golden/hf checkpoints").isNotEmpty();
            return dirs.stream();
        }
    }

    @ParameterizedTest
    @MethodSource("goldenCheckpoints")
    void goldenCheckpointReadsBackAsItsConfig(Path dir) throws IOException {
        GemmaConfig g = roundTrip(dir);
        assertSameShape(HfConfig.read(dir), g);
        // the golden README's sizes, independent of both readers: 6 layers (5 sliding + 1 full), 4 heads, 2 KV heads,
        // head_dim 64 (Gemma 4's full layer 128), hidden 256, vocab 1024, no experts
        assertThat(g.nLayer()).isEqualTo(6);
        assertThat(g.nEmbd()).isEqualTo(256);
        assertThat(g.nVocab()).isEqualTo(1024);
        assertThat(g.nExpert()).isZero();
        assertThat(g.layers()).extracting(LayerConfig::slidingWindow).containsExactly(true, true, true, true, true, false);
        assertThat(g.layers()).extracting(LayerConfig::nHead).containsOnly(4);
        assertThat(g.layers()).extracting(LayerConfig::nHeadKv).containsOnly(2);
        int fullHeadDim = g.arch() == GemmaArch.GEMMA4 ? 128 : 64;
        assertThat(g.layers()).extracting(LayerConfig::headDim).containsExactly(64, 64, 64, 64, 64, fullHeadDim);
    }

    /** Shapes the golden checkpoints do not have: experts, KV sharing with double-wide MLPs, K=V full layers. */
    @Test
    void gemma4VariantsReadBackAsTheirConfig() throws IOException {
        var variants = List.of(
                SyntheticCheckpoint.gemma4().layers(6).perLayerInput(16).moe(4, 2, 128),
                SyntheticCheckpoint.gemma4().layers(8).sharedKvLayers(2).doubleWideMlp().perLayerInput(16),
                SyntheticCheckpoint.gemma4().layers(6).kEqV(1).globalHeadDimKey());
        for (int i = 0; i < variants.size(); i++) {
            Path dir = variants.get(i).write(tmp.resolve("v" + i));
            GemmaConfig g = roundTrip(dir);
            assertSameShape(HfConfig.read(dir), g);
            if (i == 0) assertThat(List.of(g.nExpert(), g.nExpertUsed(), g.expertFf())).containsExactly(4, 2, 128);
            if (i == 1) assertThat(g.layers()).filteredOn(l -> !l.hasKv()).hasSize(2);
            if (i == 2) assertThat(g.layers()).filteredOn(l -> !l.slidingWindow()).extracting(LayerConfig::nHeadKv).containsOnly(1);
        }
    }

    private GemmaConfig roundTrip(Path dir) throws IOException {
        Path out = tmp.resolve(dir.getFileName() + ".gguf");
        try (ConversionPlan plan = GemmaPlanner.plan(dir, ConversionSettings.of(FileType.BF16))) {
            GgufConversion.write(plan, out, null);
        }
        try (GgufModelSource src = GgufModelSource.open(out)) {
            return GemmaConfig.of(src);
        }
    }

    private static void assertSameShape(HfConfig hf, GemmaConfig g) {
        assertThat(g.arch()).isEqualTo(hf.arch());
        assertThat(g.nLayer()).isEqualTo(hf.blockCount());
        assertThat(g.nEmbd()).isEqualTo(hf.embeddingLength());
        assertThat(g.nVocab()).isEqualTo(hf.vocabSize());
        assertThat((long) g.contextLength()).isEqualTo(hf.contextLength());
        assertThat(g.rmsEps()).isEqualTo(hf.rmsEps());
        assertThat(g.slidingWindow()).isEqualTo(hf.slidingWindow() == null ? 0 : hf.slidingWindow());
        assertThat(g.nExpert()).isEqualTo(hf.expertCount() == null ? 0 : hf.expertCount());
        assertThat(g.nExpertUsed()).isEqualTo(hf.expertUsedCount() == null ? 0 : hf.expertUsedCount());
        assertThat(g.expertFf()).isEqualTo(hf.expertFeedForward() == null ? 0 : hf.expertFeedForward());
        if (hf.perLayerInputWidth() != null) assertThat(g.perLayerInputDim()).isEqualTo(hf.perLayerInputWidth());
        for (int i = 0; i < hf.blockCount(); i++) {
            LayerConfig l = g.layer(i);
            String at = hf.hfClass() + " layer " + i;
            assertThat(l.slidingWindow()).as(at + " sliding").isEqualTo(hf.isSliding(i));
            assertThat(l.nHead()).as(at + " heads").isEqualTo(hf.headCount());
            assertThat(l.nHeadKv()).as(at + " KV heads").isEqualTo(hf.kvHeads(i));
            assertThat(l.headDim()).as(at + " head dim").isEqualTo(hf.headDim(i));
            assertThat(l.nFf()).as(at + " FFN width").isEqualTo(hf.feedForward(i));
            assertThat(l.hasKv()).as(at + " has its own KV").isEqualTo(hf.hasKv(i));
        }
    }
}
