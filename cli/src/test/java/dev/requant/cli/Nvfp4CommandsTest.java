package dev.requant.cli;

import static org.assertj.core.api.Assertions.assertThat;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.requant.formats.ggml.GgmlType;
import dev.requant.formats.gguf.GgufFile;
import dev.requant.formats.nvfp4.Nvfp4Checkpoint;
import dev.requant.formats.nvfp4.QuantizationConfig;
import dev.requant.formats.safetensors.SafetensorsCheckpoint;
import dev.requant.testmodels.Golden;
import dev.requant.testmodels.Nvfp4Faults;
import java.nio.file.Files;
import java.nio.file.Path;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** quantize-nvfp4, convert of NVFP4 folders and verify-fp4, end to end on the golden gemma3-tiny. */
class Nvfp4CommandsTest {
    static final Path BF16 = Golden.hf("gemma3-tiny");
    @TempDir static Path tmp;
    static Path text, modelopt;


    @BeforeAll
    static void quantize() throws Exception {
        text = tmp.resolve("text.txt");
        Files.writeString(text, Files.readString(Golden.text("calibration.txt")).substring(0, 6000));
        modelopt = tmp.resolve("modelopt");
        CliRun r = CliRun.of("quantize-nvfp4", BF16.toString(), "-o", modelopt.toString(), "--imatrix", Golden.llamacpp("gemma3-tiny.imatrix.gguf").toString(),
                "--text", text.toString(), "-c", "64", "--chunks", "2", "--threads", "2");
        assertThat(r.code()).as(r.err()).isZero();
        assertThat(r.out()).contains("42 weights NVFP4 (all, imatrix, W4A4 input scales from text.txt)");
    }

    @Test
    void quantizeWritesAModelOptCheckpointTheReaderAndConverterTake() throws Exception {
        QuantizationConfig qc = QuantizationConfig.read(modelopt);
        assertThat(qc.kind()).isEqualTo(QuantizationConfig.Kind.MODELOPT_NVFP4);
        assertThat(qc.algo()).isEqualTo("NVFP4");
        try (SafetensorsCheckpoint ck = SafetensorsCheckpoint.open(modelopt)) {
            Nvfp4Checkpoint nv = Nvfp4Checkpoint.scan(modelopt, ck);
            assertThat(nv.nvfp4()).hasSize(42);
            assertThat(nv.nvfp4().values()).allMatch(t -> t.inputScale() != null && t.inputScale().value() > 0);
        }
        Path gguf = tmp.resolve("m.gguf");
        CliRun c = CliRun.of("convert", modelopt.toString(), "-o", gguf.toString());
        assertThat(c.code()).as(c.err()).isZero();
        assertThat(c.out()).contains("nvfp4: 42 weights kept as GGML NVFP4", "upstream          24", "shifted_inexact    6");
        try (GgufFile f = GgufFile.open(gguf)) {
            assertThat(f.tensor("blk.0.ffn_up.weight").orElseThrow().type()).isEqualTo(GgmlType.NVFP4);
            assertThat(f.tensor("blk.0.attn_q.scale")).isPresent();
        }
    }

    @Test
    void compressedTensorsAndGgufFormats() throws Exception {
        Path ct = tmp.resolve("ct");
        CliRun r = CliRun.of("quantize-nvfp4", BF16.toString(), "-o", ct.toString(), "--format", "compressed-tensors", "--recipe", "mlp-only");
        assertThat(r.code()).as(r.err()).isZero();
        assertThat(r.out()).contains("18 weights NVFP4 (mlp-only, weight-only W4A16)");
        assertThat(QuantizationConfig.read(ct).kind()).isEqualTo(QuantizationConfig.Kind.COMPRESSED_TENSORS_NVFP4);
        Path g = tmp.resolve("q.gguf");
        CliRun r2 = CliRun.of("quantize-nvfp4", BF16.toString(), "-o", g.toString(), "--format", "gguf", "--recipe", "protect-first-last=1",
                "--exclude", "*self_attn.o_proj", "--nvfp4-fallback", "q8_0");
        assertThat(r2.code()).as(r2.err()).isZero();
        try (GgufFile f = GgufFile.open(g)) {
            assertThat(f.tensor("blk.0.attn_q.weight").orElseThrow().type()).as("layer 0 protected").isEqualTo(GgmlType.BF16);
            assertThat(f.tensor("blk.2.attn_q.weight").orElseThrow().type()).isEqualTo(GgmlType.NVFP4);
            assertThat(f.tensor("blk.2.attn_output.weight").orElseThrow().type()).as("excluded").isEqualTo(GgmlType.BF16);
            assertThat(f.tensor("blk.2.ffn_gate.weight").orElseThrow().type()).as("fallback").isEqualTo(GgmlType.Q8_0);
            assertThat(f.metadata().getLong("general.file_type")).contains(39L);
        }
    }

    @Test
    void verifyPassesTheCorrectModelWithItsThreePaths() throws Exception {
        Path json = tmp.resolve("report.json");
        CliRun r = CliRun.of("verify-fp4", modelopt.toString(), "--reference", BF16.toString(), "--text", text.toString(), "-c", "64", "--chunks", "1",
                "--device", "cpu", "--threads", "2", "--json", json.toString());
        assertThat(r.code()).as(r.out() + r.err()).isZero();
        assertThat(r.out()).contains("VERDICT: PASS", "W4A16 (dequantized weights, float activations)", "W4A4 CPU emulation",
                "NOT RUN: no GPU: --device cpu", "STATIC: 42 NVFP4 weights (gemma3, checkpoint)");
        JsonNode j = new ObjectMapper().readTree(json.toFile());
        assertThat(j.get("verdict").asText()).isEqualTo("PASS");
        JsonNode paths = j.get("dynamic").get("result").get("paths");
        assertThat(paths.get(0).get("meanKld").asDouble()).isBetween(1e-4, 0.1);
        assertThat(paths.get(1).get("meanKld").asDouble()).isBetween(paths.get(0).get("meanKld").asDouble() * 0.5, 0.25);
        assertThat(paths.get(1).get("staticScaleCalls").asLong()).isPositive();
        assertThat(paths.get(2).get("ran").asBoolean()).isFalse();
    }

    @Test
    void verifyFailsPlantedFaults() throws Exception {
        Path nan = Nvfp4Faults.copy(modelopt, tmp.resolve("nan"));
        Nvfp4Faults.nanBlockScale(nan, "model.layers.2.mlp.down_proj", 17);
        CliRun a = CliRun.of("verify-fp4", nan.toString(), "--reference", BF16.toString());
        assertThat(a.code()).isEqualTo(1);
        assertThat(a.out()).contains("VERDICT: FAIL", "blk.2.ffn_down.weight: 1 block scales are NaN");

        Path swap = Nvfp4Faults.copy(modelopt, tmp.resolve("swap"));
        Nvfp4Faults.swapNibbles(swap, "model.layers.3.self_attn.q_proj.weight");
        CliRun b = CliRun.of("verify-fp4", swap.toString(), "--reference", BF16.toString());
        assertThat(b.code()).isEqualTo(1);
        assertThat(b.out()).contains("blk.3.attn_q.weight: relative L2 error");

        Path wrong = Nvfp4Faults.copy(modelopt, tmp.resolve("global"));
        Nvfp4Faults.scaleScalar(wrong, "model.layers.1.mlp.down_proj.weight_scale_2", 8f);
        CliRun c = CliRun.of("verify-fp4", wrong.toString(), "--reference", BF16.toString(), "--text", text.toString(), "-c", "64", "--chunks", "1",
                "--device", "cpu", "--threads", "2");
        assertThat(c.code()).isEqualTo(1);
        assertThat(c.out()).contains("blk.1.ffn_down.weight: relative L2 error");

        Path up = tmp.resolve("upstream.gguf");
        assertThat(CliRun.of("convert", modelopt.toString(), "-o", up.toString(), "--nvfp4-upstream-split").code()).isZero();
        CliRun d = CliRun.of("verify-fp4", up.toString(), "--reference", BF16.toString());
        assertThat(d.code()).isEqualTo(1);
        assertThat(d.out()).contains("past the Q8_0 limit");
        Path ours = tmp.resolve("ours.gguf");
        assertThat(CliRun.of("convert", modelopt.toString(), "-o", ours.toString()).code()).isZero();
        CliRun e = CliRun.of("verify-fp4", ours.toString(), "--reference", BF16.toString());
        assertThat(e.code()).as(e.out()).isZero();
    }

    @Test
    void userErrorsAreOneLine() {
        CliRun r = CliRun.of("quantize-nvfp4", BF16.toString(), "-o", tmp.resolve("x").toString(), "--recipe", "half");
        assertThat(r.code()).isEqualTo(2);
        assertThat(r.err()).contains("unknown recipe 'half'");
        CliRun q = CliRun.of("quantize-nvfp4", modelopt.toString(), "-o", tmp.resolve("y").toString());
        assertThat(q.code()).isEqualTo(1);
        assertThat(q.err()).contains("declares quantization").doesNotContain("Exception");
    }
}
