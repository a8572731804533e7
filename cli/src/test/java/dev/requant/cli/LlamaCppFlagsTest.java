package dev.requant.cli;

import static org.assertj.core.api.Assertions.assertThat;

import dev.requant.converter.ConversionSettings;
import dev.requant.converter.GemmaPlanner;
import dev.requant.converter.GgufConversion;
import dev.requant.formats.gguf.FileType;
import dev.requant.testmodels.Golden;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** Commands copied from llama.cpp's docs run: its flags are aliases with their llama.cpp meaning. */
class LlamaCppFlagsTest {
    @TempDir static Path dir;
    static Path bf16, q8, text;
    static final Path IMATRIX_GGUF = Golden.llamacpp("gemma3-tiny.imatrix.gguf");
    static final Path IMATRIX_DAT = Golden.llamacpp("gemma3-tiny.imatrix.dat");

    @BeforeAll
    static void prepare() throws Exception {
        Path hf = Golden.hf("gemma3-tiny");
        bf16 = dir.resolve("bf16.gguf");
        q8 = dir.resolve("q8_0.gguf");
        GgufConversion.write(GemmaPlanner.plan(hf, ConversionSettings.of(FileType.BF16)), bf16, null);
        GgufConversion.write(GemmaPlanner.plan(hf, ConversionSettings.of(FileType.Q8_0)), q8, null);
        text = dir.resolve("text.txt");
        Files.writeString(text, Files.readString(Golden.text("calibration.txt"), StandardCharsets.UTF_8).substring(0, 8_000));
    }

    @Test
    void quantizeTakesDashOAndDashT() throws Exception {
        Path a = dir.resolve("a.gguf"), b = dir.resolve("b.gguf");
        assertThat(CliRun.of("quantize", bf16.toString(), a.toString(), "Q8_0", "2", "--no-progress").code()).isZero();
        CliRun r = CliRun.of("quantize", bf16.toString(), "-o", b.toString(), "Q8_0", "-t", "2", "--no-progress");
        assertThat(r.code()).as(r.err()).isZero();
        assertThat(Files.readAllBytes(b)).isEqualTo(Files.readAllBytes(a));
    }

    @Test
    void imatrixTakesDashMDashFInFileAndShowStatistics() throws Exception {
        Path a = dir.resolve("a.imatrix.gguf"), b = dir.resolve("b.imatrix.gguf");
        assertThat(CliRun.of("imatrix", bf16.toString(), "--text", text.toString(), "-c", "64", "--chunks", "3", "--device", "cpu",
                "-o", a.toString(), "--no-progress").code()).isZero();
        CliRun r = CliRun.of("imatrix", "-m", bf16.toString(), "-f", text.toString(), "-c", "64", "--chunks", "3", "--device", "cpu",
                "-o", b.toString(), "-t", "2", "--no-progress");
        assertThat(r.code()).as(r.err()).isZero();
        assertThat(Files.readAllBytes(b)).isEqualTo(Files.readAllBytes(a));

        Path merged = dir.resolve("merged.gguf"), viaIn = dir.resolve("via-in-file.gguf");
        assertThat(CliRun.of("imatrix", "merge", IMATRIX_GGUF.toString(), IMATRIX_DAT.toString(), "-o", merged.toString()).code()).isZero();
        CliRun in = CliRun.of("imatrix", "--in-file", IMATRIX_GGUF.toString(), "--in-file", IMATRIX_DAT.toString(), "-o", viaIn.toString());
        assertThat(in.code()).as(in.err()).isZero();
        assertThat(Files.readAllBytes(viaIn)).isEqualTo(Files.readAllBytes(merged));

        CliRun stats = CliRun.of("imatrix", "--in-file", IMATRIX_GGUF.toString(), "--show-statistics");
        assertThat(stats.code()).as(stats.err()).isZero();
        assertThat(stats.out()).contains("attn_k").contains("H(bits)").contains("top columns");
    }

    @Test
    void evalTakesLlamaPerplexitysKlDivergenceFlow() throws Exception {
        Path base = dir.resolve("base.kld");
        CliRun save = CliRun.of("eval", "-m", bf16.toString(), "-f", text.toString(), "-c", "64", "--chunks", "3",
                "--kl-divergence-base", base.toString(), "--no-progress");
        assertThat(save.code()).as(save.err()).isZero();
        assertThat(save.out()).contains("PPL");
        assertThat(base).isRegularFile();
        CliRun cmp = CliRun.of("eval", "-m", q8.toString(), "--kl-divergence-base", base.toString(), "--kl-divergence", "--no-progress");
        assertThat(cmp.code()).as(cmp.err()).isZero();
        assertThat(cmp.out()).contains("q8_0.gguf").contains("mean KLD");
        CliRun bad = CliRun.of("eval", "-m", q8.toString(), "--kl-divergence");
        assertThat(bad.code()).isEqualTo(2);
    }

    @Test
    void outputPathsAreCheckedBeforeTheWork() {
        CliRun r = CliRun.of("eval", "--base", bf16.toString(), "--compare", q8.toString(), "--text", text.toString(), "-c", "64",
                "--plot", dir.resolve("nodir/x.png").toString(), "--no-progress");
        assertThat(r.code()).isEqualTo(1);
        assertThat(r.out()).isEmpty(); // nothing was evaluated
        assertThat(r.err().strip().lines()).hasSize(1);
        assertThat(r.err()).contains("nodir").contains("does not exist");
        CliRun c = CliRun.of("convert", Golden.hf("gemma3-tiny").toString(), "-o", dir.resolve("nodir/x.gguf").toString());
        assertThat(c.code()).isEqualTo(1);
        assertThat(c.err()).contains("does not exist");
    }

    @Test
    void wrongInputsGetTheRightWords() throws Exception {
        CliRun nvfp4 = CliRun.of("quantize-nvfp4", bf16.toString(), "-o", dir.resolve("z").toString());
        assertThat(nvfp4.code()).isEqualTo(1);
        assertThat(nvfp4.err()).contains("not a folder").doesNotContain("no such file");
        Path readme = Files.writeString(dir.resolve("README.md"), "# not a model\n\nsome text that is long enough to look like a header");
        CliRun inspect = CliRun.of("inspect", readme.toString());
        assertThat(inspect.code()).isEqualTo(1);
        assertThat(inspect.err()).contains("not a GGUF or safetensors file");
        CliRun qat = CliRun.of("qat-report", q8.toString());
        assertThat(qat.code()).as(qat.err()).isZero();
        assertThat(qat.out()).contains("already quantized").doesNotContain("not quantization-aware trained");
    }
}
