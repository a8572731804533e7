package dev.requant.cli;

import static org.assertj.core.api.Assertions.assertThat;

import dev.requant.testmodels.Golden;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class ExportCommandTest {
    @TempDir Path tmp;

    @Test
    void exportsAFolderThatConvertsBackToTheSameFile() throws IOException {
        Path gguf = tmp.resolve("g.gguf");
        assertThat(CliRun.of("convert", Golden.hf("gemma3-tiny").toString(), "-o", gguf.toString(), "--type", "bf16", "--no-progress").code()).isZero();
        Path hf = tmp.resolve("hf");
        CliRun r = CliRun.of("export", gguf.toString(), "-o", hf.toString(), "--no-progress");
        assertThat(r.code()).as(r.err()).isZero();
        assertThat(r.out()).contains("Gemma3ForCausalLM", "80 tensors in 1 file(s)");
        assertThat(Files.readAllBytes(hf.resolve("model.safetensors"))).isEqualTo(Files.readAllBytes(Golden.hf("gemma3-tiny").resolve("model.safetensors")));
        Path back = tmp.resolve("back.gguf");
        assertThat(CliRun.of("convert", hf.toString(), "-o", back.toString(), "--no-progress").code()).isZero();
        assertThat(Files.readAllBytes(back)).isEqualTo(Files.readAllBytes(gguf));
    }

    @Test
    void dryRunAndBadInput() throws IOException {
        Path gguf = tmp.resolve("g.gguf");
        assertThat(CliRun.of("convert", Golden.hf("gemma4-tiny").toString(), "-o", gguf.toString(), "--no-progress").code()).isZero();
        CliRun dry = CliRun.of("export", gguf.toString(), "--dry-run");
        assertThat(dry.code()).isZero();
        assertThat(dry.out()).contains("Gemma4ForCausalLM").containsPattern("blk\\.0\\.layer_output_scale\\.weight\\s+->\\s+model\\.layers\\.0\\.layer_scalar\\s+BF16\\s+\\[1]\\s+F32 -> BF16");
        Path busy = Files.createDirectories(tmp.resolve("busy"));
        Files.writeString(busy.resolve("x"), "x");
        CliRun r = CliRun.of("export", gguf.toString(), "-o", busy.toString(), "--no-progress");
        assertThat(r.code()).isEqualTo(1);
        assertThat(r.err().strip()).doesNotContain("\n").contains(busy.toString());
        assertThat(CliRun.of("export", gguf.toString(), "-o", tmp.resolve("o").toString(), "--dtype", "f8").code()).isEqualTo(2);
        CliRun cls = CliRun.of("export", gguf.toString(), "-o", tmp.resolve("o").toString(), "--hf-class", "Gemma3ForCausalLM");
        assertThat(cls.code()).isEqualTo(1);
        assertThat(cls.err()).contains("Gemma4ForCausalLM or Gemma4UnifiedForCausalLM");
        assertThat(tmp.resolve("o")).doesNotExist();
    }
}
