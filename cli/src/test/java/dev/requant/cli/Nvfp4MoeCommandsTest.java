package dev.requant.cli;

import static org.assertj.core.api.Assertions.assertThat;

import dev.requant.formats.nvfp4.Nvfp4Format;
import dev.requant.testmodels.RealisticWeights;
import dev.requant.testmodels.SyntheticCheckpoint;
import dev.requant.testmodels.SyntheticNvfp4Moe;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** NVFP4 mixture-of-experts through convert, inspect and verify-fp4 (checkpoint and GGUF, with llama.cpp). */
class Nvfp4MoeCommandsTest {
    @TempDir Path tmp;

    @Test
    void convertInspectAndVerify() throws IOException {
        Path bf16 = SyntheticCheckpoint.gemma4().hiddenSize(128).intermediateSize(256).layers(2).moe(4, 2, 64).weights(RealisticWeights.of(3)).write(tmp.resolve("bf16"));
        Path nv = SyntheticNvfp4Moe.write(bf16, tmp.resolve("nv"), Nvfp4Format.COMPRESSED_TENSORS, SyntheticNvfp4Moe.Layout.PER_EXPERT);
        CliRun i = CliRun.of("inspect", nv.toString());
        assertThat(i.out()).contains("quantization: compressed-tensors nvfp4-pack-quantized (config.json): 0 NVFP4 weights, 6 NVFP4 expert groups (24 experts)");

        Path gguf = tmp.resolve("nv.gguf");
        CliRun c = CliRun.of("convert", nv.toString(), "-o", gguf.toString(), "--no-progress");
        assertThat(c.code()).as(c.err()).isZero();
        CliRun dry = CliRun.of("convert", nv.toString(), "--dry-run");
        assertThat(dry.out()).containsPattern("blk\\.0\\.ffn_down_exps\\.weight\\s+64 x 128 x 4\\s+NVFP4\\s+nvfp4: kept\\s+NVFP4 repack, 4 experts stacked, router.per_expert_scale folded into .scale");

        CliRun v = CliRun.of("verify-fp4", nv.toString(), "--reference", bf16.toString());
        assertThat(v.code()).as(v.out() + v.err()).isZero();
        assertThat(v.out()).contains("STATIC: 24 NVFP4 weights", "blk.1.ffn_up_exps.weight[3]", "VERDICT: PASS");
        CliRun g = CliRun.of("verify-fp4", gguf.toString(), "--engine");
        assertThat(g.code()).as(g.out() + g.err()).isZero();
        assertThat(g.out()).contains("STATIC: 24 NVFP4 weights", "blk.0.ffn_down_exps.weight[2]", "0 non-finite", "VERDICT: PASS");

        // a NaN block scale in one expert
        long at;
        try (var ck = dev.requant.formats.safetensors.SafetensorsCheckpoint.open(nv)) {
            var e = ck.get("model.layers.0.experts.2.down_proj.weight_scale").orElseThrow();
            at = e.file().dataStart() + e.tensor().begin() + 3;
        }
        try (FileChannel ch = FileChannel.open(nv.resolve("model.safetensors"), StandardOpenOption.WRITE)) {
            ch.write(ByteBuffer.wrap(new byte[] {0x7F}), at);
        }
        CliRun bad = CliRun.of("verify-fp4", nv.toString());
        assertThat(bad.code()).isEqualTo(1);
        assertThat(bad.out()).contains("blk.0.ffn_down_exps.weight[2]: 1 block scales are NaN", "VERDICT: FAIL");
        CliRun refused = CliRun.of("convert", nv.toString(), "-o", tmp.resolve("x.gguf").toString());
        assertThat(refused.code()).isEqualTo(1);
        assertThat(refused.err()).contains("model.layers.0.experts.2.down_proj.weight_packed' (expert 2) has 1 NaN");
    }
}
