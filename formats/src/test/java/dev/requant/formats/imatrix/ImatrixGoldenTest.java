package dev.requant.formats.imatrix;

import static org.assertj.core.api.Assertions.assertThat;

import dev.requant.formats.SharedFiles;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Against the two files llama-imatrix wrote from one run over gemma3-tiny (-c 256 --chunks 40): the GGUF one and the
 * legacy --output-format dat one.
 */
class ImatrixGoldenTest {
    static final Path GGUF = SharedFiles.golden("llamacpp/gemma3-tiny.imatrix.gguf");
    static final Path DAT = SharedFiles.golden("llamacpp/gemma3-tiny.imatrix.dat");

    @TempDir Path tmp;

    @Test
    void readsTheGgufFile() throws IOException {
        Imatrix im = ImatrixReader.read(GGUF);
        assertThat(im.format()).isEqualTo(ImatrixFormat.GGUF);
        assertThat(im.legacy()).isFalse();
        assertThat(im.hasMetadata()).isTrue();
        assertThat(im.datasets()).containsExactly("calibration.txt");
        assertThat(im.chunkCount()).isEqualTo(40);
        assertThat(im.chunkSize()).isEqualTo(256);
        // 6 blocks x 7 matmul weights (q, k, v, output, gate, up, down); token_embd is a GET_ROWS and never collected.
        assertThat(im.entries()).hasSize(42);
        ImatrixEntry q = im.entry("blk.0.attn_q.weight").orElseThrow();
        assertThat(q.columns()).isEqualTo(256);
        assertThat(q.counts()).containsExactly(40L * 256);
        assertThat(im.entry("blk.3.ffn_down.weight").orElseThrow().columns()).isEqualTo(1024);
        // Q, K and V read the same normalized input, so llama-imatrix records identical sums for them.
        assertThat(im.entry("blk.2.attn_k.weight").orElseThrow().sums())
                .isEqualTo(im.entry("blk.2.attn_v.weight").orElseThrow().sums());
        assertThat(List.copyOf(im.entries().keySet())).isSorted();
    }

    @Test
    void readsTheLegacyFileWithItsTrailer() throws IOException {
        Imatrix im = ImatrixReader.read(DAT);
        assertThat(im.format()).isEqualTo(ImatrixFormat.DAT);
        assertThat(im.legacy()).isTrue();
        assertThat(im.chunkSize()).isZero();
        assertThat(im.chunkCount()).isEqualTo(40);
        assertThat(im.datasets()).containsExactly("calibration.txt");
        assertThat(im.entries()).hasSize(42);
        assertThat(im.entry("blk.5.ffn_up.weight").orElseThrow().counts()).containsExactly(40L);
    }

    @Test
    void bothFilesGiveTheSameImportance() throws IOException {
        ImatrixImportance g = ImatrixImportance.of(ImatrixReader.read(GGUF), ImatrixFilter.ALL, GGUF);
        ImatrixImportance d = ImatrixImportance.of(ImatrixReader.read(DAT), ImatrixFilter.ALL, DAT);
        assertThat(d.values().keySet()).containsExactlyElementsOf(g.values().keySet());
        assertThat(g.chunkCount()).isEqualTo(40);
        long compared = 0;
        for (var e : g.values().entrySet()) {
            float[] a = e.getValue(), b = d.values().get(e.getKey());
            assertThat(b).hasSameSizeAs(a);
            for (int i = 0; i < a.length; i++) {
                // dat stores fl(fl(s/c)*ncall); dividing by ncall again is within an ulp or two of s/c.
                assertThat(Math.abs(a[i] - b[i])).as("%s[%d]", e.getKey(), i).isLessThanOrEqualTo(2 * Math.ulp(a[i]));
                assertThat(a[i]).isPositive();
                compared++;
            }
        }
        assertThat(compared).isGreaterThan(10_000);
    }

    @Test
    void ggufWriterReproducesTheGoldenFileByteForByte() throws IOException {
        Imatrix im = ImatrixReader.read(GGUF);
        Path direct = tmp.resolve("direct.gguf");
        ImatrixWriter.writeGguf(direct, im);
        assertThat(Files.readAllBytes(direct)).isEqualTo(Files.readAllBytes(GGUF));

        // The same through llama-imatrix's load-then-save path (llama-imatrix --in-file X.gguf -c 256).
        ImatrixAccumulator acc = new ImatrixAccumulator(im.chunkSize());
        acc.load(im);
        Path viaLoad = tmp.resolve("via-load.gguf");
        ImatrixWriter.writeGguf(viaLoad, acc.snapshot(null));
        assertThat(Files.readAllBytes(viaLoad)).isEqualTo(Files.readAllBytes(GGUF));
    }

    @Test
    void ggufToDatReproducesTheGoldenDatByteForByte() throws IOException {
        // llama-imatrix --in-file gemma3-tiny.imatrix.gguf -c 256 --output-format dat: the sums and counts are the
        // run's own, save_imatrix_legacy computes (sum/count)*ncall in float as the run did, chunk_count is
        // max(count)/256 = 40 and the trailer's dataset is the last loaded dataset, which was the run's -f name.
        Imatrix im = ImatrixReader.read(GGUF);
        ImatrixAccumulator acc = new ImatrixAccumulator(im.chunkSize());
        acc.load(im);
        Path out = tmp.resolve("converted.dat");
        ImatrixWriter.writeDat(out, acc.snapshot(null));
        assertThat(Files.readAllBytes(out)).isEqualTo(Files.readAllBytes(DAT));
    }

    @Test
    void datToGgufFollowsLlamaImatrixInFileLoading() throws IOException {
        Imatrix dat = ImatrixReader.read(DAT);
        Imatrix gguf = ImatrixReader.read(GGUF);
        ImatrixAccumulator acc = new ImatrixAccumulator(256);
        acc.load(dat);
        Imatrix converted = acc.snapshot(null);
        assertThat(converted.chunkSize()).isEqualTo(256);
        assertThat(converted.chunkCount()).isEqualTo(40);
        assertThat(converted.datasets()).containsExactly("calibration.txt");
        for (ImatrixEntry e : converted.entries().values()) {
            ImatrixEntry stored = dat.entry(e.name()).orElseThrow();
            assertThat(e.counts()).containsExactly(40L * 256);
            for (int i = 0; i < e.sums().length; i++) {
                assertThat(e.sums()[i]).isEqualTo(stored.sums()[i] * 256f); // values += stored * chunk_size
                float raw = gguf.entry(e.name()).orElseThrow().sums()[i];
                assertThat((double) Math.abs(e.sums()[i] - raw)).isLessThanOrEqualTo(4 * Math.ulp(raw));
            }
        }
        Path out = tmp.resolve("from-dat.gguf");
        ImatrixWriter.writeGguf(out, converted);
        Imatrix back = ImatrixReader.read(out);
        assertThat(back.entries()).isEqualTo(converted.entries());
        assertThat(back.hasMetadata()).isTrue();
    }

    @Test
    void mergingAFileWithItselfDoublesSumsAndCountsButNotTheImportance() throws IOException {
        Imatrix im = ImatrixReader.read(GGUF);
        ImatrixAccumulator acc = new ImatrixAccumulator(256);
        acc.load(im);
        acc.load(im);
        Imatrix merged = acc.snapshot(null);
        assertThat(merged.chunkCount()).isEqualTo(80);
        assertThat(merged.datasets()).containsExactly("calibration.txt", "calibration.txt");
        ImatrixImportance a = ImatrixImportance.of(im, ImatrixFilter.ALL, GGUF);
        ImatrixImportance b = ImatrixImportance.of(merged, ImatrixFilter.ALL, GGUF);
        for (var e : merged.entries().values()) {
            assertThat(e.counts()).containsExactly(2L * 10240);
            assertThat(b.values().get(e.name())).isEqualTo(a.values().get(e.name())); // (2s)/(2c) == s/c exactly
        }
    }
}
