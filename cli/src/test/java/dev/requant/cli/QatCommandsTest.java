package dev.requant.cli;

import static org.assertj.core.api.Assertions.assertThat;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.requant.formats.gguf.GgufFile;
import dev.requant.formats.ggml.GgmlType;
import dev.requant.testmodels.QatWeights;
import dev.requant.testmodels.QatWeights.Assignment;
import dev.requant.testmodels.QatWeights.ScaleDtype;
import dev.requant.testmodels.QatWeights.ScaleRule;
import dev.requant.testmodels.SyntheticCheckpoint;
import dev.requant.testmodels.WeightGenerator;
import java.io.IOException;
import java.nio.file.Path;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** convert --qat and qat-report from the command line, on a checkpoint whose attention was QAT'd and whose MLP was not. */
class QatCommandsTest {
    @TempDir static Path tmp;
    static Path hf;

    @BeforeAll
    static void checkpoint() throws IOException {
        hf = SyntheticCheckpoint.gemma3().weights(QatWeights.generator(3, 0.02f,
                name -> name.contains("self_attn") ? Assignment.of(ScaleRule.ABSMAX_7, ScaleDtype.BF16) : Assignment.of(ScaleRule.NONE, ScaleDtype.BF16),
                WeightGenerator.hashed(3))).write(tmp.resolve("qat-hf"));
    }

    @Test
    void qatReportTellsWhichClassesWereTrained() {
        CliRun r = CliRun.of("qat-report", hf.toString());
        assertThat(r.code()).isZero();
        assertThat(r.out()).contains("QAT'd for Q4_0 (>= 90% exact blocks): attn_k, attn_output, attn_q, attn_v")
                .contains("Not on a lattice: token_embd, ffn_down, ffn_gate, ffn_up");
        assertThat(r.out()).containsPattern("attn_q\\s+\\d+\\s+100\\.00%\\s+absmax/7\\s+bf16\\s+0\\s+\\d+\\.\\d\\d%\\s+QAT");
    }

    @Test
    void qatReportJsonAndGgufInput() throws IOException {
        Path bf16 = tmp.resolve("m-bf16.gguf");
        assertThat(CliRun.of("convert", hf.toString(), "-o", bf16.toString(), "--type", "bf16", "--no-progress").code()).isZero();
        CliRun r = CliRun.of("qat-report", bf16.toString(), "--json", "--rows", "16");
        assertThat(r.code()).isZero();
        JsonNode j = new ObjectMapper().readTree(r.out());
        assertThat(j.get("classes").get("attn_v").get("exact_fraction").asDouble()).isEqualTo(1.0);
        assertThat(j.get("classes").get("attn_v").get("blocks").asLong()).isEqualTo(6 * 16 * 256 / 32);
        assertThat(j.get("classes").get("ffn_up").get("aligned").asBoolean()).isFalse();
    }

    @Test
    void convertWithQatUsesTheLatticeWhereItFitsAndSaysSo() throws IOException {
        Path dry = tmp.resolve("dry");
        CliRun plan = CliRun.of("convert", hf.toString(), "--type", "q4_0", "--dry-run");
        assertThat(plan.code()).isZero();
        assertThat(plan.out()).containsPattern("blk\\.0\\.attn_q\\.weight .* Q4_0\\s+qat: lattice q4_0 \\(100\\.0% exact, absmax/7\\)")
                .containsPattern("blk\\.0\\.ffn_up\\.weight .* Q4_0\\s+qat: llama.cpp q4_0, not on a lattice")
                .containsPattern("token_embd\\.weight .* Q8_0\\s+qat: q8_0, not on a lattice");
        Path out = tmp.resolve("m-q4_0.gguf");
        CliRun r = CliRun.of("convert", hf.toString(), "-o", out.toString(), "--type", "q4_0",
                "--token-embedding-type", "f16", "--no-progress");
        assertThat(r.code()).as(r.err()).isZero();
        assertThat(r.out()).contains("QAT lattice").containsPattern("attn_k\\s+\\d+\\s+100\\.0000%\\s+absmax/7");
        try (GgufFile f = GgufFile.open(out)) {
            assertThat(f.tensor("token_embd.weight").orElseThrow().type()).isEqualTo(GgmlType.F16);
            assertThat(f.metadata().getFloat("requant.qat.exact_fraction.attn_output")).contains(1.0f);
        }
        assertThat(dry).doesNotExist();
        CliRun bad = CliRun.of("convert", hf.toString(), "-o", out.toString(), "--type", "q4_0", "--qat", "maybe");
        assertThat(bad.code()).isEqualTo(2);
        assertThat(bad.err()).contains("'--qat'").contains("[AUTO, ON, OFF]").contains("'maybe'").contains("see 'requant convert --help'");
    }
}
