package dev.requant.testmodels;

import static org.assertj.core.api.Assertions.assertThat;

import dev.requant.formats.ggml.BlockCodec;
import dev.requant.formats.gguf.GgufFile;
import dev.requant.formats.gguf.GgufTensorInfo;
import dev.requant.formats.manifest.GgufManifest;
import java.io.IOException;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class SyntheticGgufTest {
    @TempDir Path tmp;

    @Test
    void gemma3OneBShapesAddUpToOneBillionParameters() {
        long params = SyntheticGguf.tensors(SyntheticGguf.Shape.gemma3_1b()).stream().mapToLong(t -> t.elementCount()).sum();
        assertThat(params).isBetween(999_000_000L, 1_010_000_000L);
    }

    @Test
    void theFileIsDeterministicWhateverTheThreadCountAndLooksLikeWeights() throws IOException {
        Path a = tmp.resolve("a.gguf"), b = tmp.resolve("b.gguf"), c = tmp.resolve("c.gguf");
        SyntheticGguf.write(a, SyntheticGguf.Shape.tiny(), 7, 1);
        SyntheticGguf.write(b, SyntheticGguf.Shape.tiny(), 7, 3);
        SyntheticGguf.write(c, SyntheticGguf.Shape.tiny(), 8, 2);
        try (GgufFile fa = GgufFile.open(a); GgufFile fb = GgufFile.open(b); GgufFile fc = GgufFile.open(c)) {
            assertThat(GgufManifest.sha256(fa.mapping())).isEqualTo(GgufManifest.sha256(fb.mapping()));
            assertThat(GgufManifest.sha256(fa.mapping())).isNotEqualTo(GgufManifest.sha256(fc.mapping()));
            assertThat(fa.metadata().architecture()).contains("gemma3");
            GgufTensorInfo up = fa.tensor("blk.1.ffn_up.weight").orElseThrow();
            float[] x = new float[(int) up.spec().elementCount()];
            BlockCodec.of(up.type()).decode(fa.tensorData(up), 0, x, 0, x.length);
            double sum = 0, sq = 0, max = 0;
            for (float v : x) {
                sum += v;
                sq += v * v;
                max = Math.max(max, Math.abs(v));
            }
            double mean = sum / x.length, std = Math.sqrt(sq / x.length - mean * mean);
            assertThat(std).isBetween(0.5 / Math.sqrt(256), 2 / Math.sqrt(256));
            assertThat(Math.abs(mean)).isLessThan(std / 20);
            assertThat(max / std).isGreaterThan(6); // outliers beyond what the Gaussian bulk reaches
            assertThat(fa.llamaCppIncompatibilities()).isEmpty();
        }
    }

    @Test
    void realShapesMatchThePublishedSizes() {
        // Gemma 3 (HF text configs): 4B 3.88 B, 12B 11.77 B, 27B 27.0 B parameters with the 262,144-token vocabulary
        assertThat(SyntheticGguf.Shape.gemma3_4b().parameters()).isBetween(3_850_000_000L, 3_900_000_000L);
        assertThat(SyntheticGguf.Shape.gemma3_12b().parameters()).isBetween(11_700_000_000L, 11_800_000_000L);
        assertThat(SyntheticGguf.Shape.gemma3_27b().parameters()).isBetween(26_900_000_000L, 27_100_000_000L);
        // Gemma 4: BF16 sizes as published (E4B 15.1 GB, 12B 23.8 GB, 26B-A4B 50.5 GB, 31B 61.4 GB), within 3%
        assertThat(2.0 * SyntheticGemma4Gguf.Shape.e4b().parameters() / 1e9).isCloseTo(15.1, org.assertj.core.data.Percentage.withPercentage(3));
        assertThat(2.0 * SyntheticGemma4Gguf.Shape.unified12b().parameters() / 1e9).isCloseTo(23.8, org.assertj.core.data.Percentage.withPercentage(3));
        assertThat(2.0 * SyntheticGemma4Gguf.Shape.a4b26b().parameters() / 1e9).isCloseTo(50.5, org.assertj.core.data.Percentage.withPercentage(3));
        assertThat(2.0 * SyntheticGemma4Gguf.Shape.b31().parameters() / 1e9).isCloseTo(61.4, org.assertj.core.data.Percentage.withPercentage(3));
    }

    @Test
    void gemma4FilesAreWrittenWithEveryFeatureAndLlamaCppCanReadThem() throws IOException {
        Path a = tmp.resolve("g4.gguf");
        SyntheticGemma4Gguf.write(a, SyntheticGemma4Gguf.Shape.tiny(), 3, dev.requant.formats.ggml.GgmlType.Q8_0, 2);
        try (GgufFile f = GgufFile.open(a)) {
            assertThat(f.metadata().architecture()).contains("gemma4");
            assertThat(f.tensor("blk.0.ffn_gate_up_exps.weight").orElseThrow().type()).isEqualTo(dev.requant.formats.ggml.GgmlType.Q8_0);
            assertThat(f.tensor("blk.0.ffn_gate_inp.weight").orElseThrow().type()).isEqualTo(dev.requant.formats.ggml.GgmlType.F32);
            assertThat(f.tensor("blk.1.attn_v.weight")).as("k_eq_v on the full layer").isEmpty();
            assertThat(f.tensor("blk.3.attn_k.weight")).as("KV-shared last layer").isEmpty();
            assertThat(f.tensor("per_layer_token_embd.weight")).isPresent();
            assertThat(f.llamaCppIncompatibilities()).isEmpty();
        }
    }
}
