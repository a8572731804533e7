package dev.requant.cli;

import static org.assertj.core.api.Assertions.assertThat;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.requant.testmodels.Golden;
import dev.requant.testmodels.QatWeights;
import dev.requant.testmodels.QatWeights.Assignment;
import dev.requant.testmodels.QatWeights.ScaleDtype;
import dev.requant.testmodels.QatWeights.ScaleRule;
import dev.requant.testmodels.SyntheticCheckpoint;
import dev.requant.testmodels.WeightGenerator;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * quantize --target-bpw|--target-size from the command line: the printed plan, usage errors, and on a checkpoint whose
 * attention was QAT'd for Q4_0, a mix no larger than the lattice Q4_0 conversion whose KLD is no worse.
 */
class QuantizeMixCommandTest {
    @TempDir static Path tmp;
    static Path hf, bf16, lattice, text;

    @BeforeAll
    static void checkpoint() throws Exception {
        hf = SyntheticCheckpoint.gemma3().weights(QatWeights.generator(3, 0.02f,
                name -> name.contains("self_attn") ? Assignment.of(ScaleRule.ABSMAX_7, ScaleDtype.BF16) : Assignment.of(ScaleRule.NONE, ScaleDtype.BF16),
                WeightGenerator.hashed(3))).write(tmp.resolve("qat-hf"));
        bf16 = tmp.resolve("qat.bf16.gguf");
        lattice = tmp.resolve("qat.q4_0.gguf");
        assertThat(CliRun.of("convert", hf.toString(), "-o", bf16.toString(), "--type", "bf16", "--no-progress").code()).isZero();
        assertThat(CliRun.of("convert", hf.toString(), "-o", lattice.toString(), "--type", "q4_0", "--no-progress").code()).isZero();
        text = tmp.resolve("text.txt");
        Files.writeString(text, Files.readString(Golden.text("calibration.txt"), StandardCharsets.UTF_8).substring(0, 8_000));
    }

    @Test
    void onAQatCheckpointTheMixTakesTheLatticeAndBeatsTheLatticeFileAtItsSize() throws Exception {
        Path out = tmp.resolve("mix.gguf"), recipe = tmp.resolve("mix.txt");
        long size = Files.size(lattice);
        CliRun r = CliRun.of("quantize", bf16.toString(), out.toString(), "--target-size", Long.toString(size), "--text", text.toString(),
                "--allow-types", "q4_0,q4_K,q6_K,q8_0", "-c", "64", "--chunks", "2", "--threads", "2", "--device", "cpu",
                "--write-recipe", recipe.toString(), "--no-progress");
        assertThat(r.code()).as(r.err()).isZero();
        assertThat(r.out()).containsPattern("blk\\.0\\.attn_q\\.weight\\s+q4_0@lattice").contains("tensors are Q4_0 on their QAT lattice")
                .contains("mean KLD").contains("reproduce with: llama-quantize --tensor-type-file " + recipe);
        assertThat(Files.size(out)).isLessThanOrEqualTo(size);
        assertThat(Files.readString(recipe)).contains("^blk\\.0\\.attn_q\\.weight$=q4_0\n");

        // the recipe through plain quantize with --qat auto (lattice tensors through lattice recovery) gives the same bytes
        java.util.regex.Matcher ft = java.util.regex.Pattern.compile("file type (\\S+);").matcher(r.out());
        assertThat(ft.find()).isTrue();
        Path again = tmp.resolve("again.gguf");
        // the lattice remark is a log line (stderr as "requant: ..."), not a warning
        java.io.ByteArrayOutputStream logged = new java.io.ByteArrayOutputStream();
        java.io.PrintStream saved = System.err;
        CliRun q;
        System.setErr(new java.io.PrintStream(logged, true, java.nio.charset.StandardCharsets.UTF_8));
        try {
            q = CliRun.of("quantize", bf16.toString(), again.toString(), ft.group(1), "--tensor-type-file", recipe.toString(), "--qat", "auto",
                    "--threads", "2", "--no-progress");
        } finally {
            System.setErr(saved);
        }
        assertThat(q.code()).as(q.err()).isZero();
        assertThat(logged.toString(java.nio.charset.StandardCharsets.UTF_8)).containsPattern("requant: \\d+ Q4_0 tensors sit on a lattice");
        assertThat(q.err()).doesNotContain("sit on a lattice");
        assertThat(Files.mismatch(out, again)).isEqualTo(-1L);
        // without --qat (llama-quantize's encoder for them) the lattice tensors differ
        Path plain = tmp.resolve("plain.gguf");
        assertThat(CliRun.of("quantize", bf16.toString(), plain.toString(), ft.group(1), "--tensor-type-file", recipe.toString(),
                "--threads", "2", "--no-progress").code()).isZero();
        assertThat(Files.mismatch(out, plain)).isNotEqualTo(-1L);
        assertThat(Files.size(plain)).isEqualTo(Files.size(out));

        CliRun e = CliRun.of("eval", "--base", bf16.toString(), "--compare", lattice.toString(), out.toString(), "--text", text.toString(),
                "-c", "64", "--chunks", "4", "--threads", "2", "--device", "cpu", "--no-progress", "--json", "-");
        assertThat(e.code()).as(e.err()).isZero();
        JsonNode j = new ObjectMapper().readTree(e.out());
        double kLattice = j.get("models").get(0).get("kld").get("value").asDouble(), kMix = j.get("models").get(1).get("kld").get("value").asDouble();
        System.out.printf("QAT synthetic: lattice Q4_0 file %d bytes KLD %.6f; mix %d bytes KLD %.6f%n", size, kLattice, Files.size(out), kMix);
        assertThat(kMix).isLessThanOrEqualTo(kLattice);

        // the table is reused: a dry run at a smaller budget measures nothing and writes nothing
        Path dry = tmp.resolve("dry.gguf");
        CliRun d = CliRun.of("quantize", bf16.toString(), dry.toString(), "--target-bpw", "4.8", "--text", text.toString(),
                "--allow-types", "q4_0,q4_K,q6_K,q8_0", "-c", "64", "--chunks", "2", "--threads", "2", "--device", "cpu",
                "--sensitivity", out + ".sensitivity.json", "--dry-run", "--no-progress");
        assertThat(d.code()).as(d.err()).isZero();
        assertThat(d.out()).contains("sensitivity read from").contains("dry run: nothing written");
        assertThat(Files.exists(dry)).isFalse();
    }

    @Test
    void usageErrors() {
        CliRun both = CliRun.of("quantize", bf16.toString(), "x.gguf", "--target-bpw", "4", "--target-size", "1M", "--text", text.toString());
        assertThat(both.code()).isEqualTo(2);
        assertThat(both.err()).contains("not both");
        CliRun typed = CliRun.of("quantize", bf16.toString(), "x.gguf", "q4_0", "--target-bpw", "4", "--text", text.toString());
        assertThat(typed.code()).isEqualTo(2);
        assertThat(typed.err()).contains("no TYPE");
        CliRun noText = CliRun.of("quantize", bf16.toString(), "x.gguf", "--target-bpw", "4");
        assertThat(noText.code()).isEqualTo(2);
        assertThat(noText.err()).contains("--text FILE is required");
        CliRun pure = CliRun.of("quantize", bf16.toString(), "x.gguf", "--target-bpw", "4", "--text", text.toString(), "--pure");
        assertThat(pure.code()).isEqualTo(2);
        CliRun size = CliRun.of("quantize", bf16.toString(), "x.gguf", "--target-size", "lots", "--text", text.toString());
        assertThat(size.code()).isEqualTo(2);
        assertThat(size.err()).contains("is not a size");
        CliRun orphan = CliRun.of("quantize", bf16.toString(), "x.gguf", "q4_0", "--text", text.toString());
        assertThat(orphan.code()).isEqualTo(2);
        assertThat(orphan.err()).contains("give --target-bpw or --target-size");
    }
}
