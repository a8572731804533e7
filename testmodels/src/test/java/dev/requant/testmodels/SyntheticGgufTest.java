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
}
