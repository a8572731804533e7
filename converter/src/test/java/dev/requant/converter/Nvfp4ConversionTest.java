package dev.requant.converter;

import dev.requant.formats.gguf.FileType;
import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.requant.formats.FormatException;
import dev.requant.formats.ggml.BlockCodec;
import dev.requant.formats.ggml.GgmlType;
import dev.requant.formats.gguf.GgufFile;
import dev.requant.formats.gguf.GgufTensorInfo;
import dev.requant.formats.io.LittleEndian;
import dev.requant.formats.nvfp4.GgmlNvfp4Rows;
import dev.requant.formats.nvfp4.Nvfp4Checkpoint;
import dev.requant.formats.nvfp4.Nvfp4Format;
import dev.requant.formats.nvfp4.Nvfp4Quantizer;
import dev.requant.formats.nvfp4.Nvfp4Tensor;
import dev.requant.formats.safetensors.SafetensorsCheckpoint;
import dev.requant.testmodels.Nvfp4Faults;
import dev.requant.testmodels.RealisticWeights;
import dev.requant.testmodels.SyntheticCheckpoint;
import dev.requant.testmodels.SyntheticNvfp4;
import java.io.IOException;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.nio.file.Path;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** ModelOpt / compressed-tensors NVFP4 checkpoints to GGUF: the same codes and values, the split llama.cpp needs. */
class Nvfp4ConversionTest {
    @TempDir static Path tmp;
    static Path bf16, modelopt, ct;

    @BeforeAll
    static void checkpoints() throws IOException {
        bf16 = SyntheticCheckpoint.gemma3().layers(2).weights(RealisticWeights.of(7)).write(tmp.resolve("bf16"));
        Map<String, Float> act = new HashMap<>();
        for (String w : SyntheticNvfp4.decoderLinears(bf16)) act.put(w.substring(0, w.length() - ".weight".length()), 6.5f);
        modelopt = SyntheticNvfp4.write(bf16, tmp.resolve("modelopt"), Nvfp4Format.MODELOPT, act);
        ct = SyntheticNvfp4.write(bf16, tmp.resolve("ct"), Nvfp4Format.COMPRESSED_TENSORS, act);
    }

    static Path convert(Path dir, ConversionSettings s, String name) throws IOException {
        Path out = tmp.resolve(name);
        try (ConversionPlan plan = GemmaPlanner.plan(dir, s)) {
            GgufConversion.write(plan, out, null);
        }
        return out;
    }

    static float scalar(GgufFile f, String name, float absent) {
        return f.tensor(name).map(t -> f.tensorData(t).get(LittleEndian.FLOAT, 0)).orElse(absent);
    }

    /** Every NVFP4 weight: GGUF codes equal the checkpoint's, and the GGUF's dequantization equals the producer's exactly. */
    static void assertSameValues(Path checkpoint, Path gguf) throws IOException {
        try (SafetensorsCheckpoint ck = SafetensorsCheckpoint.open(checkpoint); GgufFile f = GgufFile.open(gguf);
                ConversionPlan plan = GemmaPlanner.plan(checkpoint, ConversionSettings.auto())) {
            Nvfp4Checkpoint nv = Nvfp4Checkpoint.scan(checkpoint, ck);
            assertThat(nv.nvfp4()).hasSize(14);
            List<Nvfp4Planning.Kept> kept = Nvfp4Planning.kept(plan);
            assertThat(kept).hasSize(14);
            for (Nvfp4Planning.Kept k : kept) {
                Nvfp4Tensor t = k.tensor();
                GgufTensorInfo info = f.tensor(k.ggufName()).orElseThrow();
                assertThat(info.type()).isEqualTo(GgmlType.NVFP4);
                assertThat(info.ne()).containsExactly(t.cols(), t.rows());
                MemorySegment data = f.tensorData(info);
                String base = k.ggufName().replace(".weight", "");
                float scale = scalar(f, base + ".scale", 1f);
                long rowBytes = GgmlNvfp4Rows.rowBytes(t.cols());
                float[] want = new float[(int) t.cols()], got = new float[(int) t.cols()];
                for (long r = 0; r < t.rows(); r++) {
                    t.dequantizeRow(r, want, 0);
                    GgmlNvfp4Rows.dequantizeRow(data, r * rowBytes, (int) t.cols(), scale, got, 0);
                    for (int c = 0; c < t.cols(); c++) {
                        assertThat(GgmlNvfp4Rows.code(data, r * rowBytes, c)).isEqualTo(t.code(r, c));
                        if (t.weightScale().convention() == dev.requant.formats.nvfp4.GlobalScale.Convention.MULTIPLIER) {
                            assertThat(Float.floatToIntBits(got[c])).as("%s [%d,%d]", k.ggufName(), r, c).isEqualTo(Float.floatToIntBits(want[c]));
                        } else {
                            // compressed-tensors divides by its global scale; a GGUF can only multiply by 1/g
                            assertThat(got[c]).isCloseTo(want[c], org.assertj.core.data.Offset.offset(Math.abs(want[c]) * 0x1p-22f));
                        }
                    }
                }
            }
        }
    }

    @Test
    void modelOptWeightsBecomeGgmlNvfp4WithTheSameCodesAndValues() throws IOException {
        Path gguf = convert(modelopt, ConversionSettings.auto(), "modelopt.gguf");
        assertSameValues(modelopt, gguf);
        try (GgufFile f = GgufFile.open(gguf); SafetensorsCheckpoint ck = SafetensorsCheckpoint.open(modelopt)) {
            assertThat(f.metadata().getLong("general.file_type")).contains(39L);
            assertThat(f.tensor("token_embd.weight").orElseThrow().type()).isEqualTo(GgmlType.BF16);
            assertThat(f.llamaCppIncompatibilities()).isEmpty();
            // attention: convert_hf_to_gguf.py's split, byte for byte (scale bytes as stored, weight_scale_2 in .scale)
            Nvfp4Tensor q = Nvfp4Checkpoint.scan(modelopt, ck).nvfp4("model.layers.1.self_attn.q_proj.weight").orElseThrow();
            MemorySegment data = f.tensorData(f.tensor("blk.1.attn_q.weight").orElseThrow());
            long rowBytes = GgmlNvfp4Rows.rowBytes(q.cols());
            for (long r = 0; r < q.rows(); r++) {
                for (long b = 0; b < q.blocksPerRow(); b++) assertThat(GgmlNvfp4Rows.scaleCode(data, r * rowBytes, b)).isEqualTo(q.scaleCode(r, b));
            }
            assertThat(scalar(f, "blk.1.attn_q.scale", Float.NaN)).isEqualTo(q.weightScale().value());
            assertThat(scalar(f, "blk.1.attn_q.input_scale", Float.NaN)).isEqualTo(6.5f / 2688f);
            assertThat(scalar(f, "blk.0.ffn_up.input_scale", Float.NaN)).isEqualTo(6.5f / 2688f);
        }
        // the Gemma 3 FFN: llama.cpp drops its .scale, so the split moves it as near to 1 as the block scales allow
        try (ConversionPlan plan = GemmaPlanner.plan(modelopt, ConversionSettings.auto()); GgufFile f = GgufFile.open(gguf)) {
            for (Nvfp4Planning.Kept k : Nvfp4Planning.kept(plan)) {
                Nvfp4Split sp = k.split();
                if (!k.ggufName().contains("ffn_")) {
                    assertThat(sp.outcome()).isEqualTo(Nvfp4Split.Outcome.UPSTREAM);
                    continue;
                }
                assertThat(sp.outcome()).isEqualTo(k.ggufName().contains("ffn_gate") ? Nvfp4Split.Outcome.SHIFTED_INEXACT : Nvfp4Split.Outcome.SHIFTED);
                float s2 = k.tensor().weightScale().value();
                dev.requant.formats.nvfp4.BlockScaleCensus c = dev.requant.formats.nvfp4.BlockScaleCensus.of(k.tensor());
                int want = (int) Math.round(-Math.log(s2) / Math.log(2));
                assertThat(sp.shift()).isEqualTo(Math.min(want, c.maxExactShiftDown())).isPositive();
                assertThat(sp.shift() == want || !c.allShift(sp.shift() + 1)).as("no larger exact shift was left unused").isTrue();
                assertThat(scalar(f, k.ggufName().replace(".weight", ".scale"), Float.NaN)).isEqualTo(Math.scalb(s2, sp.shift()));
            }
        }
    }

    @Test
    void compressedTensorsScalesAreReciprocated() throws IOException {
        Path gguf = convert(ct, ConversionSettings.auto(), "ct.gguf");
        assertSameValues(ct, gguf);
        try (GgufFile f = GgufFile.open(gguf); SafetensorsCheckpoint ck = SafetensorsCheckpoint.open(ct)) {
            Nvfp4Tensor k = Nvfp4Checkpoint.scan(ct, ck).nvfp4("model.layers.0.self_attn.k_proj.weight_packed").orElseThrow();
            assertThat(scalar(f, "blk.0.attn_k.scale", Float.NaN)).isEqualTo(1f / k.weightScale().value());
            assertThat(scalar(f, "blk.0.attn_k.input_scale", Float.NaN)).isEqualTo(1f / (2688f / 6.5f));
        }
    }

    @Test
    void otherTypesGoThroughTheExactDequantization() throws IOException {
        Path q8 = convert(modelopt, ConversionSettings.of(FileType.Q8_0), "modelopt.q8_0.gguf");
        try (GgufFile f = GgufFile.open(q8); SafetensorsCheckpoint ck = SafetensorsCheckpoint.open(modelopt); Arena arena = Arena.ofConfined()) {
            assertThat(f.tensors()).noneMatch(t -> t.name().endsWith(".scale") && !t.name().contains("ffn_gate_inp"));
            Nvfp4Tensor d = Nvfp4Checkpoint.scan(modelopt, ck).nvfp4("model.layers.0.mlp.down_proj.weight").orElseThrow();
            GgufTensorInfo info = f.tensor("blk.0.ffn_down.weight").orElseThrow();
            assertThat(info.type()).isEqualTo(GgmlType.Q8_0);
            int cols = (int) d.cols();
            float[] row = new float[cols];
            MemorySegment enc = arena.allocate(GgmlType.Q8_0.rowBytes(cols));
            for (long r = 0; r < d.rows(); r++) {
                d.dequantizeRow(r, row, 0);
                BlockCodec.reference(GgmlType.Q8_0).encodeRow(row, 0, cols, null, enc, 0);
                assertThat(f.tensorData(info).asSlice(r * enc.byteSize(), enc.byteSize()).mismatch(enc)).isEqualTo(-1);
            }
            assertThat(f.metadata().getLong("general.file_type")).contains(7L);
        }
    }

    @Test
    void fallbackTypeReplacesOnlyTheWeightsWhoseScaleLlamaCppDrops() throws IOException {
        ConversionSettings s = ConversionSettings.auto().withNvfp4(new ConversionSettings.Nvfp4Options(FileType.BF16, false));
        try (ConversionPlan plan = GemmaPlanner.plan(modelopt, s)) {
            for (PlannedTensor p : plan.tensors()) {
                if (p.ggufName().matches("blk\\.\\d\\.ffn_(gate|up|down)\\.weight")) assertThat(p.decision().type()).isEqualTo(GgmlType.BF16);
                if (p.ggufName().matches("blk\\.\\d\\.attn_(q|k|v|output)\\.weight")) assertThat(p.decision().type()).isEqualTo(GgmlType.NVFP4);
                assertThat(p.ggufName()).doesNotMatch("blk\\.\\d\\.ffn_.*scale");
            }
        }
        ConversionSettings up = ConversionSettings.auto().withNvfp4(new ConversionSettings.Nvfp4Options(null, true));
        try (ConversionPlan plan = GemmaPlanner.plan(modelopt, up)) {
            assertThat(Nvfp4Planning.kept(plan)).allMatch(k -> k.split().shift() == 0);
        }
    }

    @Test
    void invalidBlockScalesAreRefusedWithTheTensorName() throws IOException {
        Path bad = Nvfp4Faults.copy(modelopt, tmp.resolve("nan"));
        Nvfp4Faults.nanBlockScale(bad, "model.layers.1.mlp.up_proj", 3);
        assertThatThrownBy(() -> GemmaPlanner.plan(bad, ConversionSettings.auto())).isInstanceOf(FormatException.class)
                .hasMessageContaining("model.layers.1.mlp.up_proj.weight").hasMessageContaining("1 NaN");
    }
}
