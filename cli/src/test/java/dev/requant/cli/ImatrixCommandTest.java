package dev.requant.cli;

import static org.assertj.core.api.Assertions.assertThat;

import dev.requant.formats.imatrix.Imatrix;
import dev.requant.formats.imatrix.ImatrixReader;
import dev.requant.testmodels.Golden;
import java.nio.file.Files;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class ImatrixCommandTest {
    static final Path GGUF = Golden.llamacpp("gemma3-tiny.imatrix.gguf");
    static final Path DAT = Golden.llamacpp("gemma3-tiny.imatrix.dat");

    @TempDir Path tmp;


    @Test
    void convertGgufToDatGivesLlamaImatrixBytes() throws Exception {
        Path out = tmp.resolve("x.dat");
        CliRun r = CliRun.of("imatrix", "convert", GGUF.toString(), "-o", out.toString());
        assertThat(r.code()).as(r.err()).isZero();
        assertThat(r.out()).contains("dat imatrix, 42 entries, 40 chunks of 256 tokens");
        assertThat(Files.readAllBytes(out)).isEqualTo(Files.readAllBytes(DAT));
    }

    @Test
    void convertDatToGgufWithExplicitFormatAndChunkSize() throws Exception {
        Path out = tmp.resolve("x.imatrix");
        CliRun r = CliRun.of("imatrix", "convert", DAT.toString(), "-o", out.toString(), "--format", "gguf", "-c", "128");
        assertThat(r.code()).as(r.err()).isZero();
        Imatrix im = ImatrixReader.read(out);
        assertThat(im.chunkSize()).isEqualTo(128);
        assertThat(im.chunkCount()).isEqualTo(40);
        assertThat(im.entry("blk.0.attn_q.weight").orElseThrow().counts()).containsExactly(40L * 128);
    }

    @Test
    void mergeAddsCountsAndConcatenatesDatasets() throws Exception {
        Path out = tmp.resolve("m.gguf");
        CliRun r = CliRun.of("imatrix", "merge", GGUF.toString(), GGUF.toString(), DAT.toString(), "-o", out.toString());
        assertThat(r.code()).as(r.err()).isZero();
        Imatrix im = ImatrixReader.read(out);
        assertThat(im.chunkCount()).isEqualTo(120);
        assertThat(im.datasets()).containsExactly("calibration.txt", "calibration.txt", "calibration.txt");
        assertThat(im.entry("blk.4.ffn_down.weight").orElseThrow().counts()).containsExactly(3L * 10240);
    }

    @Test
    void statsListsEveryWeightInLayerOrder() {
        CliRun r = CliRun.of("imatrix", "stats", GGUF.toString(), "--top", "2");
        assertThat(r.code()).as(r.err()).isZero();
        String[] lines = r.out().split("\n");
        assertThat(lines[0]).contains("42 entries, 40 chunks of 256 tokens");
        assertThat(lines).hasSize(2 + 42);
        assertThat(lines[2]).matches("\\s+0\\s+attn_k\\s+10240\\s.*");
        assertThat(lines[lines.length - 1]).matches("\\s+5\\s+ffn_up\\s+10240\\s.*");
        CliRun json = CliRun.of("imatrix", "stats", DAT.toString(), "--json");
        assertThat(json.code()).isZero();
        assertThat(json.out()).contains("\"format\" : \"dat\"").contains("\"count\" : 40");
    }

    @Test
    void badInputIsOneLineAndExitCodeOne() throws Exception {
        Path junk = tmp.resolve("junk.gguf");
        Files.writeString(junk, "GGUF but not really");
        CliRun r = CliRun.of("imatrix", "stats", junk.toString());
        assertThat(r.code()).isEqualTo(1);
        assertThat(r.err()).startsWith("requant: error: " + junk).doesNotContain("Exception").doesNotContain("\tat ");
        assertThat(r.err().strip().lines()).hasSize(1);

        Path out = tmp.resolve("never.gguf");
        CliRun m = CliRun.of("imatrix", "merge", GGUF.toString(), junk.toString(), "-o", out.toString());
        assertThat(m.code()).isEqualTo(1);
        assertThat(out).doesNotExist();
        assertThat(CliRun.of("imatrix", "merge", GGUF.toString(), "-o", out.toString()).code()).isEqualTo(2);
    }
}
