package dev.requant.cli;

import static org.assertj.core.api.Assertions.assertThat;

import com.fasterxml.jackson.databind.ObjectMapper;
import dev.requant.formats.gguf.GgufFile;
import dev.requant.formats.manifest.GgufManifest;
import dev.requant.testmodels.Golden;
import dev.requant.testmodels.SyntheticCheckpoint;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class ConvertCommandTest {
    @TempDir Path tmp;


    @Test
    void writesTheGoldenFile() throws IOException {
        Path out = tmp.resolve("g.gguf");
        CliRun r = CliRun.of("convert", Golden.hf("gemma3-tiny").toString(), "-o", out.toString(), "--type", "bf16", "--model-name", "Tiny Gemma3", "--no-progress");
        assertThat(r.code()).isZero();
        assertThat(r.out()).contains("80 tensors");
        String want = new ObjectMapper().readTree(Golden.llamacpp("gemma3-tiny.bf16.manifest.json").toFile()).get("file_sha256").asText();
        try (GgufFile f = GgufFile.open(out)) {
            assertThat(GgufManifest.sha256(f.mapping())).isEqualTo(want);
        }
    }

    @Test
    void dryRunPrintsThePlanAndWritesNothing() throws IOException {
        CliRun r = CliRun.of("convert", Golden.hf("gemma4-tiny").toString(), "--dry-run", "--type", "q8_0");
        assertThat(r.code()).isZero();
        assertThat(r.out()).contains("GGUF gemma4", "--type q8_0", "108 tensors")
                .containsPattern("model\\.layers\\.5\\.self_attn\\.q_proj\\.weight\\s+BF16\\s+blk\\.5\\.attn_q\\.weight\\s+256 x 512\\s+Q8_0\\s+--type")
                .containsPattern("-\\s+generated\\s+rope_freqs\\.weight\\s+64\\s+F32\\s+f32: 1-D or \\*_norm\\.weight")
                .containsPattern("model\\.layers\\.0\\.layer_scalar\\s+BF16\\s+blk\\.0\\.layer_output_scale\\.weight\\s+1\\s+F32");
        try (Stream<Path> s = Files.list(tmp)) {
            assertThat(s.toList()).isEmpty();
        }
    }

    @Test
    void badInputIsOneLineAndExitCode1() throws IOException {
        Path dir = SyntheticCheckpoint.gemma3().layers(1).write(tmp.resolve("m"));
        Files.writeString(dir.resolve("config.json"), "{\"architectures\": [\"MistralForCausalLM\"]}");
        Path out = tmp.resolve("x.gguf");
        CliRun r = CliRun.of("convert", dir.toString(), "-o", out.toString());
        assertThat(r.code()).isEqualTo(1);
        assertThat(r.err().strip()).doesNotContain("\n").startsWith("requant: error: " + dir.resolve("config.json"))
                .contains("'MistralForCausalLM' is not supported");
        assertThat(out).doesNotExist();
        assertThat(CliRun.of("convert", dir.toString()).code()).isEqualTo(2);
    }

    /**
     * Conversion streams: a checkpoint many times the heap converts in a JVM with a 48 MiB heap, both the copy path
     * (bf16) and the computed path (q8_0).
     */
    @Test
    void convertsACheckpointLargerThanTheHeap() throws Exception {
        SyntheticCheckpoint.Builder b = SyntheticCheckpoint.gemma3().layers(6).hiddenSize(1024).intermediateSize(4096).heads(8).kvHeads(4)
                .headDim(128).maxShardBytes(64L << 20);
        assertThat(b.totalBytes()).isGreaterThan(150L << 20);
        Path dir = b.write(tmp.resolve("big"));
        for (String type : List.of("bf16", "q8_0")) {
            Path out = tmp.resolve("big." + type + ".gguf");
            List<String> cmd = new ArrayList<>(List.of(Path.of(System.getProperty("java.home"), "bin", "java").toString(), "-Xmx48m",
                    "--add-modules=jdk.incubator.vector", "--enable-native-access=ALL-UNNAMED",
                    "-cp", System.getProperty("java.class.path"), Main.class.getName(), "convert", dir.toString(), "-o", out.toString(),
                    "--type", type, "--no-progress"));
            Process p = new ProcessBuilder(cmd).redirectErrorStream(true).start();
            String log = new String(p.getInputStream().readAllBytes());
            assertThat(p.waitFor(300, TimeUnit.SECONDS)).isTrue();
            assertThat(p.exitValue()).as(log).isZero();
            try (GgufFile f = GgufFile.open(out)) {
                assertThat(f.tensors()).hasSize(2 + 13 * 6);
            }
        }
    }
}
