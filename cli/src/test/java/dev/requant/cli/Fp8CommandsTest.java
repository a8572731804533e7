package dev.requant.cli;

import static org.assertj.core.api.Assertions.assertThat;

import dev.requant.formats.ggml.GgmlType;
import dev.requant.formats.gguf.GgufFile;
import dev.requant.testmodels.Golden;
import dev.requant.testmodels.SyntheticFp8;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.channels.FileChannel;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** FP8 checkpoints through inspect, verify-fp4 and convert --fp8-as-q8, on the golden gemma3-tiny quantized to FP8. */
class Fp8CommandsTest {
    static final Path BF16 = Golden.hf("gemma3-tiny");
    @TempDir Path tmp;

    @Test
    void inspectVerifyAndConvert() throws IOException {
        Path fp8 = SyntheticFp8.write(BF16, tmp.resolve("fp8"), SyntheticFp8.Layout.COMPRESSED_TENSORS_BLOCK, SyntheticFp8.LINEARS);
        CliRun i = CliRun.of("inspect", fp8.toString());
        assertThat(i.code()).isZero();
        assertThat(i.out()).contains("quantization: compressed-tensors float-quantized (config.json): 0 NVFP4 weights, 42 FP8 (F8_E4M3 block 128x128)");
        CliRun j = CliRun.of("inspect", fp8.toString(), "--json");
        assertThat(j.out()).contains("\"fp8_weights\"", "\"F8_E4M3 block 128x128\" : 42");

        CliRun v = CliRun.of("verify-fp4", fp8.toString(), "--reference", BF16.toString());
        assertThat(v.code()).as(v.out() + v.err()).isZero();
        assertThat(v.out()).contains("FP8: 42 weights", "blk.0.attn_q.weight", "block 128x128", "VERDICT: PASS");

        // a NaN code is caught
        long at;
        try (var ck = dev.requant.formats.safetensors.SafetensorsCheckpoint.open(fp8)) {
            var e = ck.get("model.layers.1.mlp.up_proj.weight").orElseThrow();
            at = e.file().dataStart() + e.tensor().begin() + 5;
        }
        try (FileChannel ch = FileChannel.open(fp8.resolve("model.safetensors"), StandardOpenOption.WRITE)) {
            ch.write(ByteBuffer.wrap(new byte[] {0x7F}), at);
        }
        CliRun bad = CliRun.of("verify-fp4", fp8.toString());
        assertThat(bad.code()).isEqualTo(1);
        assertThat(bad.out()).contains("blk.1.ffn_up.weight: 1 FP8 codes are NaN", "VERDICT: FAIL");

        Path ok = SyntheticFp8.write(BF16, tmp.resolve("fp8b"), SyntheticFp8.Layout.MODELOPT_FP8, SyntheticFp8.LINEARS);
        Path out = tmp.resolve("o.gguf");
        CliRun c = CliRun.of("convert", ok.toString(), "-o", out.toString(), "--fp8-as-q8", "--no-progress");
        assertThat(c.code()).as(c.err()).isZero();
        try (GgufFile f = GgufFile.open(out)) {
            assertThat(f.tensor("blk.0.attn_k.weight").orElseThrow().type()).isEqualTo(GgmlType.Q8_0);
            assertThat(f.tensor("token_embd.weight").orElseThrow().type()).isEqualTo(GgmlType.BF16);
        }
        CliRun dry = CliRun.of("convert", ok.toString(), "--dry-run");
        assertThat(dry.out()).contains("FP8 dequantize (tensor scale)");
    }
}
