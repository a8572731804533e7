package dev.requant.converter;

import dev.requant.formats.model.GemmaArch;

import dev.requant.formats.gguf.FileType;

import static org.assertj.core.api.Assertions.assertThat;

import dev.requant.formats.ggml.BFloat16;
import dev.requant.formats.ggml.BlockCodec;
import dev.requant.formats.ggml.Float8;
import dev.requant.formats.ggml.GgmlType;
import dev.requant.formats.gguf.GgufFile;
import dev.requant.formats.gguf.GgufTensorInfo;
import dev.requant.formats.io.LittleEndian;
import dev.requant.formats.nvfp4.Fp8Linear;
import dev.requant.formats.nvfp4.Nvfp4Checkpoint;
import dev.requant.formats.nvfp4.Nvfp4Format;
import dev.requant.formats.nvfp4.QuantizationConfig;
import dev.requant.formats.safetensors.SafetensorsCheckpoint;
import dev.requant.testmodels.Golden;
import dev.requant.testmodels.LlamaCppProbe;
import dev.requant.testmodels.RealisticWeights;
import dev.requant.testmodels.SyntheticCheckpoint;
import dev.requant.testmodels.SyntheticFp8;
import dev.requant.testmodels.SyntheticFp8.Layout;
import dev.requant.testmodels.SyntheticNvfp4;
import java.io.IOException;
import java.lang.foreign.MemorySegment;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;

/**
 * FP8 checkpoints in every producer layout (ModelOpt FP8 / per-channel / FP8_PB_WO, compressed-tensors tensor /
 * channel / block, ModelOpt MIXED_PRECISION) to GGUF by exact dequantization: the F32 GGUF holds
 * {@code e4m3(code) · scale} for every element (computed here from the stored codes and scales, indexed by the
 * layout), BF16 and Q8_0 are those values rounded and encoded by the reference codecs.
 */
class Fp8ConversionTest {
    @TempDir Path tmp;

    Path bf16() throws IOException {
        // 3 x 128 + 64 columns in the MLP: a cropped last block for the block layouts
        return SyntheticCheckpoint.gemma3().layers(2).intermediateSize(448).weights(RealisticWeights.of(5)).write(tmp.resolve("bf16"));
    }

    static Path convert(Path dir, Path out, ConversionSettings s, TypePolicy p) throws IOException {
        try (ConversionPlan plan = GemmaPlanner.plan(dir, s, p)) {
            GgufConversion.write(plan, out, null);
        }
        return out;
    }

    /** The value the producer's dequantization gives, from the stored tensors (not through Fp8Linear). */
    static float expected(SafetensorsCheckpoint ck, String module, Layout layout, int r, int c, int cols) {
        var w = ck.get(module + ".weight").orElseThrow();
        var s = ck.get(module + ".weight_scale").orElseThrow();
        byte code = w.file().data(w.tensor()).get(LittleEndian.BYTE, (long) r * cols + c);
        float[] sc = new float[(int) s.tensor().elementCount()];
        s.tensor().dtype().toFloats(s.file().data(s.tensor()), 0, sc, 0, sc.length);
        float scale = switch (layout) {
            case MODELOPT_FP8_PER_CHANNEL, COMPRESSED_TENSORS_CHANNEL -> sc[r];
            case MODELOPT_FP8_BLOCK, COMPRESSED_TENSORS_BLOCK -> sc[(r / 128) * (int) s.tensor().dim(1) + c / 128];
            default -> sc[0];
        };
        return Float8.e4m3ToFloat(code) * scale;
    }

    @ParameterizedTest
    @EnumSource(value = Layout.class, names = "MODELOPT_MIXED", mode = EnumSource.Mode.EXCLUDE)
    void everyLayoutDequantizesExactly(Layout layout) throws IOException {
        Path fp8 = SyntheticFp8.write(bf16(), tmp.resolve("fp8"), layout, SyntheticFp8.LINEARS);
        QuantizationConfig qc = QuantizationConfig.read(fp8);
        assertThat(qc.declaresFp8()).isTrue();
        try (SafetensorsCheckpoint ck = SafetensorsCheckpoint.open(fp8)) {
            Nvfp4Checkpoint q = Nvfp4Checkpoint.scan(ck, qc);
            assertThat(q.fp8()).hasSize(2 * 7);
            Fp8Linear.Granularity want = switch (layout) {
                case MODELOPT_FP8_PER_CHANNEL, COMPRESSED_TENSORS_CHANNEL -> Fp8Linear.Granularity.CHANNEL;
                case MODELOPT_FP8_BLOCK, COMPRESSED_TENSORS_BLOCK -> Fp8Linear.Granularity.BLOCK;
                default -> Fp8Linear.Granularity.TENSOR;
            };
            assertThat(q.fp8().values()).allSatisfy(f -> assertThat(f.granularity()).isEqualTo(want));
        }
        Path f32 = convert(fp8, tmp.resolve("f32.gguf"), ConversionSettings.of(FileType.F32), TypePolicy.defaults());
        Path bf16 = convert(fp8, tmp.resolve("bf16.gguf"), ConversionSettings.of(FileType.BF16), TypePolicy.defaults());
        Path q8 = convert(fp8, tmp.resolve("q8.gguf"), ConversionSettings.of(FileType.Q8_0), TypePolicy.defaults());
        try (SafetensorsCheckpoint ck = SafetensorsCheckpoint.open(fp8); GgufFile a = GgufFile.open(f32); GgufFile b = GgufFile.open(bf16);
             GgufFile c = GgufFile.open(q8)) {
            int checked = 0;
            for (GgufTensorInfo t : a.tensors()) {
                String name = GemmaTensorNames.checkpointName(t.name(), GemmaArch.GEMMA3).orElseThrow();
                if (!SyntheticFp8.LINEARS.test(name)) continue;
                String module = name.substring(0, name.length() - ".weight".length());
                int cols = (int) t.ne()[0], rows = (int) t.ne()[1];
                MemorySegment fa = a.tensorData(t), fb = b.tensorData(b.tensor(t.name()).orElseThrow());
                float[] row = new float[cols];
                byte[] q8row = new byte[(int) GgmlType.Q8_0.rowBytes(cols)], want8 = new byte[q8row.length];
                GgufTensorInfo ct = c.tensor(t.name()).orElseThrow();
                assertThat(ct.type()).isEqualTo(GgmlType.Q8_0);
                for (int r = 0; r < rows; r++) {
                    for (int i = 0; i < cols; i++) {
                        float v = fa.get(LittleEndian.FLOAT, 4L * (r * cols + i));
                        assertThat(v).as("%s[%d,%d]", name, r, i).isEqualTo(expected(ck, module, layout, r, i, cols));
                        assertThat(fb.get(LittleEndian.SHORT, 2L * (r * cols + i))).isEqualTo(BFloat16.fromFloat(v));
                        row[i] = v;
                    }
                    BlockCodec.reference(GgmlType.Q8_0).encodeRow(row, 0, cols, null, MemorySegment.ofArray(want8), 0);
                    MemorySegment.copy(c.tensorData(ct), (long) r * q8row.length, MemorySegment.ofArray(q8row), 0, q8row.length);
                    assertThat(q8row).isEqualTo(want8);
                }
                checked++;
            }
            assertThat(checked).isEqualTo(2 * 7);
            // the activation scales are not model tensors
            assertThat(a.tensors()).noneMatch(t -> t.name().contains("input_scale"));
        }
    }

    @Test
    void fp8AsQ8KeepsTheRestAtTheirType() throws IOException {
        Path fp8 = SyntheticFp8.write(bf16(), tmp.resolve("fp8"), Layout.COMPRESSED_TENSORS_CHANNEL, SyntheticFp8.ATTENTION);
        Path out = convert(fp8, tmp.resolve("o.gguf"), ConversionSettings.of(FileType.BF16), Fp8AsQ8.apply(TypePolicy.defaults()));
        try (GgufFile f = GgufFile.open(out)) {
            assertThat(f.tensor("blk.0.attn_q.weight").orElseThrow().type()).isEqualTo(GgmlType.Q8_0);
            assertThat(f.tensor("blk.1.attn_output.weight").orElseThrow().type()).isEqualTo(GgmlType.Q8_0);
            assertThat(f.tensor("blk.0.ffn_up.weight").orElseThrow().type()).isEqualTo(GgmlType.BF16);
            assertThat(f.tensor("token_embd.weight").orElseThrow().type()).isEqualTo(GgmlType.BF16);
            assertThat(f.tensor("blk.0.attn_q_norm.weight").orElseThrow().type()).isEqualTo(GgmlType.F32);
        }
    }

    /** ModelOpt MIXED_PRECISION: NVFP4 MLP kept NVFP4, FP8 attention dequantized; llama.cpp runs both GGUFs. */
    @Test
    void mixedPrecisionKeepsNvfp4AndDequantizesFp8AndLlamaCppRunsIt() throws IOException {
        Path bf16 = bf16();
        // an MLP-only NVFP4 checkpoint, then its attention in FP8
        Path mlpOnly = tmp.resolve("mlp-only");
        dev.requant.formats.nvfp4.Nvfp4CheckpointWriter.write(bf16, mlpOnly, new dev.requant.formats.nvfp4.Nvfp4CheckpointWriter.Plan(Nvfp4Format.MODELOPT,
                dev.requant.formats.nvfp4.Nvfp4Quantizer.of(Nvfp4Format.MODELOPT), SyntheticNvfp4.decoderLinears(bf16).stream().filter(n -> n.contains(".mlp.")).collect(java.util.stream.Collectors.toSet()),
                null, Map.of(), SyntheticNvfp4::fusionGroup, java.util.List.of("lm_head")), null);
        Path mixed = SyntheticFp8.write(mlpOnly, tmp.resolve("mixed"), Layout.MODELOPT_MIXED, SyntheticFp8.ATTENTION);
        QuantizationConfig qc = QuantizationConfig.read(mixed);
        assertThat(qc.algo()).isEqualTo("MIXED_PRECISION");
        assertThat(qc.kind()).isEqualTo(QuantizationConfig.Kind.MODELOPT_NVFP4);
        assertThat(qc.layerAlgos()).containsEntry("model.layers.0.self_attn.q_proj", "FP8").containsEntry("model.layers.1.mlp.down_proj", "NVFP4");
        Path out = convert(mixed, tmp.resolve("mixed.gguf"), ConversionSettings.auto(), TypePolicy.defaults());
        try (GgufFile f = GgufFile.open(out); SafetensorsCheckpoint ck = SafetensorsCheckpoint.open(mixed)) {
            assertThat(f.tensor("blk.0.ffn_up.weight").orElseThrow().type()).isEqualTo(GgmlType.NVFP4);
            GgufTensorInfo q = f.tensor("blk.0.attn_q.weight").orElseThrow();
            assertThat(q.type()).isEqualTo(GgmlType.BF16);
            int cols = (int) q.ne()[0];
            for (int i = 0; i < cols; i++) {
                assertThat(f.tensorData(q).get(LittleEndian.SHORT, 2L * i))
                        .isEqualTo(BFloat16.fromFloat(expected(ck, "model.layers.0.self_attn.q_proj", Layout.MODELOPT_FP8, 0, i, cols)));
            }
            assertThat(f.metadata().getLong("general.file_type")).contains(39L);
        }
        // llama.cpp loads and runs the FP8 and the mixed conversions
        dev.requant.llamacpp.LlamaCppEngine probe = LlamaCppProbe.forTests();
        Path fp8 = SyntheticFp8.write(bf16, tmp.resolve("fp8"), Layout.MODELOPT_FP8_BLOCK, SyntheticFp8.LINEARS);
        Path fp8Gguf = convert(fp8, tmp.resolve("fp8.gguf"), ConversionSettings.of(FileType.Q8_0), TypePolicy.defaults());
        Path ref = convert(bf16, tmp.resolve("ref.gguf"), ConversionSettings.of(FileType.BF16), TypePolicy.defaults());
        String text = Files.readString(Golden.text("calibration.txt")).substring(0, 2000);
        int[] ids = Arrays.copyOf(probe.tokenize(ref, text, false), 64);
        ids[0] = 2;
        float[][] want = probe.logits(ref, ids);
        for (Path g : new Path[] {out, fp8Gguf}) {
            float[][] got = probe.logits(g, ids);
            assertThat(got.length).isEqualTo(ids.length);
            for (float[] l : got) for (float v : l) assertThat(Float.isFinite(v)).as(g.getFileName().toString()).isTrue();
            assertThat(Nvfp4LlamaCppTest.kld(want, got)).as(g.getFileName().toString()).isLessThan(0.1);
        }
    }
}
