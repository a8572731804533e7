package dev.requant.formats.nvfp4;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.requant.formats.FormatException;
import dev.requant.formats.ggml.Float8;
import dev.requant.formats.safetensors.SafetensorsCheckpoint;
import dev.requant.formats.safetensors.SafetensorsDtype;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Set;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** BF16 → requant's NVFP4 checkpoint → requant's reader → dequantized values equal what the encoder meant. */
class Nvfp4CheckpointRoundTripTest {
    @TempDir Path tmp;

    private Path source() throws IOException {
        return new TinyFolder()
                .bf16("model.layers.0.self_attn.q_proj.weight", 32, 64, TinyFolder.weights(1, 32, 64))
                .bf16("model.layers.0.self_attn.k_proj.weight", 16, 64, TinyFolder.weights(2, 16, 64))
                .bf16("model.layers.0.mlp.down_proj.weight", 64, 128, TinyFolder.weights(3, 64, 128))
                .bf16("model.embed_tokens.weight", 10, 64, TinyFolder.weights(4, 10, 64))
                .write(tmp.resolve("src"), "{\"architectures\": [\"Gemma3ForCausalLM\"], \"hidden_size\": 64}");
    }

    private static Nvfp4CheckpointWriter.Plan plan(Nvfp4Format f, Map<String, Float> inputAmax) {
        return new Nvfp4CheckpointWriter.Plan(f, Nvfp4Quantizer.of(f),
                Set.of("model.layers.0.self_attn.q_proj.weight", "model.layers.0.self_attn.k_proj.weight", "model.layers.0.mlp.down_proj.weight"),
                null, inputAmax, w -> w.contains("self_attn.") ? "qkv" : null, List.of("lm_head"));
    }

    @Test
    void modelOptRoundTrip() throws IOException {
        Path src = source();
        Path out = tmp.resolve("nvfp4");
        List<Nvfp4CheckpointWriter.Quantized> written = new ArrayList<>();
        Nvfp4CheckpointWriter.write(src, out, plan(Nvfp4Format.MODELOPT, Map.of("model.layers.0.mlp.down_proj", 3.5f)), written::add);
        assertThat(written).hasSize(3);
        QuantizationConfig qc = QuantizationConfig.read(out);
        assertThat(qc.kind()).isEqualTo(QuantizationConfig.Kind.MODELOPT_NVFP4);
        assertThat(qc.algo()).isEqualTo("NVFP4");
        assertThat(qc.isExcluded("lm_head")).isTrue();
        assertThat(Files.readString(out.resolve("hf_quant_config.json"))).contains("\"group_size\"", "\"kv_cache_quant_algo\"", "\"exclude_modules\"");
        try (SafetensorsCheckpoint ck = SafetensorsCheckpoint.open(out); SafetensorsCheckpoint bf = SafetensorsCheckpoint.open(src)) {
            assertThat(ck.get("model.layers.0.mlp.down_proj.weight").orElseThrow().tensor().dtype()).isEqualTo(SafetensorsDtype.U8);
            assertThat(ck.get("model.layers.0.mlp.down_proj.weight_scale").orElseThrow().tensor().dtype()).isEqualTo(SafetensorsDtype.F8_E4M3);
            assertThat(ck.get("model.layers.0.mlp.down_proj.weight_scale_2").orElseThrow().tensor().shape()).isEmpty();
            assertThat(ck.get("model.layers.0.self_attn.q_proj.input_scale")).isEmpty();
            Nvfp4Checkpoint nv = Nvfp4Checkpoint.scan(ck, qc);
            assertThat(nv.nvfp4()).hasSize(3);
            assertThat(nv.isAuxiliary("model.layers.0.mlp.down_proj.weight_scale_2")).isTrue();
            assertThat(nv.isAuxiliary("model.embed_tokens.weight")).isFalse();
            Nvfp4Tensor q = nv.nvfp4("model.layers.0.self_attn.q_proj.weight").orElseThrow();
            Nvfp4Tensor k = nv.nvfp4("model.layers.0.self_attn.k_proj.weight").orElseThrow();
            assertThat(q.weightScale()).as("fused q/k share one global scale").isEqualTo(k.weightScale());
            Nvfp4Tensor d = nv.nvfp4("model.layers.0.mlp.down_proj.weight").orElseThrow();
            assertThat(d.inputScale().value()).isEqualTo(3.5f / 2688f);
            for (Nvfp4Tensor t : nv.nvfp4().values()) assertIntent(t, bf.get(t.module() + ".weight").orElseThrow());
            // untouched tensors are byte-identical
            assertThat(ck.get("model.embed_tokens.weight").orElseThrow().file().data(ck.get("model.embed_tokens.weight").orElseThrow().tensor()).mismatch(
                    bf.get("model.embed_tokens.weight").orElseThrow().file().data(bf.get("model.embed_tokens.weight").orElseThrow().tensor()))).isEqualTo(-1);
        }
    }

    @Test
    void compressedTensorsRoundTrip() throws IOException {
        Path src = source();
        Path out = tmp.resolve("ct");
        Nvfp4CheckpointWriter.write(src, out, plan(Nvfp4Format.COMPRESSED_TENSORS, Map.of()), null);
        QuantizationConfig qc = QuantizationConfig.read(out);
        assertThat(qc.kind()).isEqualTo(QuantizationConfig.Kind.COMPRESSED_TENSORS_NVFP4);
        assertThat(Files.exists(out.resolve("hf_quant_config.json"))).isFalse();
        try (SafetensorsCheckpoint ck = SafetensorsCheckpoint.open(out); SafetensorsCheckpoint bf = SafetensorsCheckpoint.open(src)) {
            assertThat(ck.get("model.layers.0.mlp.down_proj.weight_packed")).isPresent();
            assertThat(ck.get("model.layers.0.mlp.down_proj.weight_global_scale").orElseThrow().tensor().shape()).containsExactly(1L);
            Nvfp4Checkpoint nv = Nvfp4Checkpoint.scan(ck, qc);
            assertThat(nv.nvfp4().keySet()).containsExactlyInAnyOrder("model.layers.0.self_attn.q_proj.weight",
                    "model.layers.0.self_attn.k_proj.weight", "model.layers.0.mlp.down_proj.weight");
            for (Nvfp4Tensor t : nv.nvfp4().values()) {
                assertThat(t.weightScale().convention()).isEqualTo(GlobalScale.Convention.DIVISOR);
                assertIntent(t, bf.get(t.module() + ".weight").orElseThrow());
            }
        }
    }

    /** Re-derives every block scale and code from the BF16 source and the stored global scale, and compares. */
    private static void assertIntent(Nvfp4Tensor t, SafetensorsCheckpoint.Entry src) {
        int cols = (int) t.cols();
        float[] x = new float[cols], got = new float[cols];
        for (long r = 0; r < t.rows(); r++) {
            src.tensor().dtype().toFloats(src.file().data(src.tensor()), r * cols, x, 0, cols);
            t.dequantizeRow(r, got, 0);
            for (int b = 0; b < cols / 16; b++) {
                float bamax = 0f;
                for (int j = 0; j < 16; j++) bamax = Math.max(bamax, Math.abs(x[b * 16 + j]));
                GlobalScale g = t.weightScale();
                float pbs = g.convention() == GlobalScale.Convention.MULTIPLIER ? bamax / (6f * g.value()) : g.value() * (bamax / 6f);
                if (pbs == 0f) pbs = 1f;
                int code = Float8.e4m3FromFloatSaturating(Math.max(pbs, 0x1p-9f)) & 0xFF;
                assertThat(t.scaleCode(r, b)).isEqualTo(code);
                float bs = g.blockScale(Float8.e4m3ToFloat((byte) code));
                for (int j = 0; j < 16; j++) {
                    int c = Nvfp4Quantizer.castFp4(x[b * 16 + j] / bs);
                    assertThat(t.code(r, b * 16 + j)).isEqualTo(c);
                    assertThat(got[b * 16 + j]).isEqualTo(dev.requant.formats.ggml.Fp4E2M1.toFloat(c) * bs);
                }
            }
        }
    }

    @Test
    void readerRejectsBrokenLayoutsWithTheTensorName() throws IOException {
        Path dir = new TinyFolder()
                .raw("model.layers.0.mlp.up_proj.weight", SafetensorsDtype.U8, new long[] {4, 32}, new byte[4 * 32])
                .raw("model.layers.0.mlp.up_proj.weight_scale", SafetensorsDtype.F8_E4M3, new long[] {4, 3}, new byte[12])
                .write(tmp.resolve("bad"), "{\"quantization_config\": {\"quant_method\": \"modelopt\", \"quant_algo\": \"NVFP4\"}}");
        try (SafetensorsCheckpoint ck = SafetensorsCheckpoint.open(dir)) {
            assertThatThrownBy(() -> Nvfp4Checkpoint.scan(dir, ck)).isInstanceOf(FormatException.class)
                    .hasMessageContaining("model.layers.0.mlp.up_proj.weight_scale").hasMessageContaining("[4, 4]");
        }
        Path dir2 = new TinyFolder()
                .raw("model.layers.0.mlp.up_proj.weight_packed", SafetensorsDtype.U8, new long[] {4, 32}, new byte[4 * 32])
                .write(tmp.resolve("bad2"), "{\"quantization_config\": {\"quant_method\": \"compressed-tensors\", \"format\": \"nvfp4-pack-quantized\"}}");
        try (SafetensorsCheckpoint ck = SafetensorsCheckpoint.open(dir2)) {
            assertThatThrownBy(() -> Nvfp4Checkpoint.scan(dir2, ck)).isInstanceOf(FormatException.class)
                    .hasMessageContaining("weight_scale is missing");
        }
    }

    @Test
    void mixedCheckpointsGroupFp8LinearsAndDropKvScales() throws IOException {
        byte[] fp8 = new byte[8 * 16];
        for (int i = 0; i < fp8.length; i++) fp8[i] = Float8.e4m3FromFloat((i % 7) - 3);
        Path dir = new TinyFolder()
                .raw("model.layers.0.self_attn.q_proj.weight", SafetensorsDtype.F8_E4M3, new long[] {8, 16}, fp8)
                .f32("model.layers.0.self_attn.q_proj.weight_scale", new long[0], 0.5f)
                .f32("model.layers.0.self_attn.q_proj.input_scale", new long[0], 0.25f)
                .f32("model.layers.0.self_attn.k_scale", new long[0], 1f)
                .raw("model.layers.0.mlp.up_proj.weight", SafetensorsDtype.U8, new long[] {2, 8}, new byte[16])
                .raw("model.layers.0.mlp.up_proj.weight_scale", SafetensorsDtype.F8_E4M3, new long[] {2, 1}, new byte[] {0x38, 0x38})
                .f32("model.layers.0.mlp.up_proj.weight_scale_2", new long[0], 0.125f)
                .write(tmp.resolve("mixed"), "{\"quantization_config\": {\"quant_method\": \"modelopt\", \"quant_algo\": \"MIXED_PRECISION\", "
                        + "\"quantized_layers\": {\"model.layers.0.mlp.up_proj\": {\"quant_algo\": \"NVFP4\"}, \"model.layers.0.self_attn.q_proj\": {\"quant_algo\": \"FP8\"}}}}");
        try (SafetensorsCheckpoint ck = SafetensorsCheckpoint.open(dir)) {
            Nvfp4Checkpoint nv = Nvfp4Checkpoint.scan(dir, ck);
            assertThat(nv.config().kind()).isEqualTo(QuantizationConfig.Kind.MODELOPT_NVFP4);
            assertThat(nv.nvfp4()).containsOnlyKeys("model.layers.0.mlp.up_proj.weight");
            assertThat(nv.nvfp4("model.layers.0.mlp.up_proj.weight").orElseThrow().weightScale().value()).isEqualTo(0.125f);
            Fp8Linear q = nv.fp8("model.layers.0.self_attn.q_proj.weight").orElseThrow();
            float[] row = new float[16];
            q.dequantizeRow(1, row, 0);
            assertThat(row[0]).isEqualTo(Float8.e4m3ToFloat(fp8[16]) * 0.5f);
            assertThat(nv.isAuxiliary("model.layers.0.self_attn.k_scale")).isTrue();
            assertThat(nv.isAuxiliary("model.layers.0.self_attn.q_proj.input_scale")).isTrue();
        }
    }

    @Test
    void configFormsAreRecognised() throws IOException {
        Path legacy = tmp.resolve("legacy");
        Files.createDirectories(legacy);
        Files.writeString(legacy.resolve("config.json"), "{\"architectures\": [\"X\"]}");
        Files.writeString(legacy.resolve("hf_quant_config.json"), "{\"producer\": {\"name\": \"modelopt\"}, \"quantization\": "
                + "{\"quant_algo\": \"NVFP4\", \"kv_cache_quant_algo\": null, \"group_size\": 16, \"exclude_modules\": [\"lm_head\", \"model.layers.0.self_attn*\"]}}");
        QuantizationConfig qc = QuantizationConfig.read(legacy);
        assertThat(qc.kind()).isEqualTo(QuantizationConfig.Kind.MODELOPT_NVFP4);
        assertThat(qc.method()).isEqualTo("modelopt");
        assertThat(qc.isExcluded("model.layers.0.self_attn.q_proj")).isTrue();
        assertThat(qc.isExcluded("model.layers.1.self_attn.q_proj")).isFalse();
        Path w4a16 = tmp.resolve("w4a16");
        Files.createDirectories(w4a16);
        Files.writeString(w4a16.resolve("config.json"), "{\"quantization_config\": {\"quant_method\": \"modelopt\", \"quant_algo\": \"W4A16_NVFP4\"}}");
        assertThat(QuantizationConfig.read(w4a16).weightOnly()).isTrue();
        Path fp8 = tmp.resolve("fp8");
        Files.createDirectories(fp8);
        Files.writeString(fp8.resolve("config.json"), "{\"quantization_config\": {\"quant_method\": \"fp8\"}}");
        assertThat(QuantizationConfig.read(fp8).kind()).isEqualTo(QuantizationConfig.Kind.OTHER);
        Path none = tmp.resolve("none");
        Files.createDirectories(none);
        Files.writeString(none.resolve("config.json"), "{}");
        assertThat(QuantizationConfig.read(none).kind()).isEqualTo(QuantizationConfig.Kind.NONE);
        Path ct = tmp.resolve("ctmixed");
        Files.createDirectories(ct);
        Files.writeString(ct.resolve("config.json"), "{\"quantization_config\": {\"quant_method\": \"compressed-tensors\", \"format\": \"mixed-precision\", "
                + "\"config_groups\": {\"g0\": {\"format\": \"nvfp4-pack-quantized\"}, \"g1\": {\"format\": \"float-quantized\"}}, \"ignore\": [\"re:.*lm_head\"]}}");
        QuantizationConfig q2 = QuantizationConfig.read(ct);
        assertThat(q2.kind()).as("mixed-precision with an FP8 group is not pure NVFP4 (upstream refuses it)").isEqualTo(QuantizationConfig.Kind.OTHER);
        assertThat(q2.isExcluded("lm_head")).isTrue();
    }
}
