package dev.requant.converter;

import dev.requant.formats.gguf.FileType;

import static org.assertj.core.api.Assertions.assertThat;

import dev.requant.formats.ggml.BlockCodec;
import dev.requant.formats.ggml.Float8;
import dev.requant.formats.ggml.Fp4E2M1;
import dev.requant.formats.ggml.GgmlType;
import dev.requant.formats.gguf.GgufFile;
import dev.requant.formats.gguf.GgufTensorInfo;
import dev.requant.formats.io.LittleEndian;
import dev.requant.formats.nvfp4.Nvfp4Checkpoint;
import dev.requant.formats.nvfp4.Nvfp4Experts;
import dev.requant.formats.nvfp4.Nvfp4Format;
import dev.requant.formats.nvfp4.Nvfp4Tensor;
import dev.requant.formats.safetensors.SafetensorsCheckpoint;
import dev.requant.testmodels.Golden;
import dev.requant.testmodels.LlamaCppProbe;
import dev.requant.testmodels.RealisticWeights;
import dev.requant.testmodels.SyntheticCheckpoint;
import dev.requant.testmodels.SyntheticNvfp4Moe;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

/**
 * NVFP4 mixture-of-experts checkpoints (Gemma 4 26B-A4B's layouts: per-expert or stacked 3-D, gate/up split or fused,
 * ModelOpt or compressed-tensors) to GGUF NVFP4, losslessly: every expert's codes and block scales are the
 * checkpoint's, the per-expert scales are the checkpoint's (times the router's per-expert scale for the down
 * projection, as convert_hf_to_gguf.py folds it), and llama.cpp runs the file.
 */
class Nvfp4MoeTest {
    static final int EXPERTS = 4, MOE_FF = 64, HIDDEN = 128;
    @TempDir Path tmp;

    Path bf16() throws IOException {
        return SyntheticCheckpoint.gemma4().hiddenSize(HIDDEN).intermediateSize(256).layers(2).moe(EXPERTS, 2, MOE_FF)
                .weights(RealisticWeights.of(3)).write(tmp.resolve("bf16"));
    }

    static Path convert(Path dir, Path out, FileType t) throws IOException {
        try (ConversionPlan plan = GemmaPlanner.plan(dir, ConversionSettings.of(t))) {
            GgufConversion.write(plan, out, null);
        }
        return out;
    }

    @ParameterizedTest
    @CsvSource({"MODELOPT,PER_EXPERT", "COMPRESSED_TENSORS,PER_EXPERT", "MODELOPT,STACKED", "COMPRESSED_TENSORS,STACKED"})
    void expertsStayNvfp4BitForBit(Nvfp4Format format, SyntheticNvfp4Moe.Layout layout) throws IOException {
        Path nv = SyntheticNvfp4Moe.write(bf16(), tmp.resolve("nv"), format, layout);
        Path gguf = convert(nv, tmp.resolve("nv.gguf"), null);
        try (GgufFile f = GgufFile.open(gguf); SafetensorsCheckpoint ck = SafetensorsCheckpoint.open(nv)) {
            Nvfp4Checkpoint q = Nvfp4Checkpoint.scan(nv, ck);
            assertThat(q.experts()).hasSize(2 * (layout == SyntheticNvfp4Moe.Layout.STACKED ? 2 : 3));
            assertThat(f.metadata().getLong("general.file_type")).contains(39L);
            for (int l = 0; l < 2; l++) {
                String blk = "blk." + l + ".";
                assertThat(f.tensor(blk + "ffn_gate_up_exps.weight")).isEmpty();
                float[] pes = routerScale(ck, l);
                for (String kind : new String[] {"ffn_gate_exps", "ffn_up_exps", "ffn_down_exps"}) {
                    GgufTensorInfo t = f.tensor(blk + kind + ".weight").orElseThrow();
                    assertThat(t.type()).isEqualTo(GgmlType.NVFP4);
                    boolean down = kind.equals("ffn_down_exps");
                    assertThat(t.ne()).containsExactly(down ? MOE_FF : HIDDEN, down ? HIDDEN : MOE_FF, EXPERTS);
                    float[] scale = floats(f, blk + kind + ".scale");
                    float[] input = floats(f, blk + kind + ".input_scale");
                    for (int e = 0; e < EXPERTS; e++) {
                        Nvfp4Tensor x = expert(q, l, kind, e);
                        float want = x.weightScale().multiplier() * (down ? pes[e] : 1f);
                        assertThat(scale[e]).as("%s scale[%d]", kind, e).isEqualTo(want);
                        assertThat(input[e]).isEqualTo(x.inputScale().multiplier());
                        assertSameBlocks(f, t, e, x);
                    }
                }
                // folded: the router's per-expert scale is not a tensor of its own
                assertThat(f.tensors().stream().filter(t -> t.name().equals(blk + "ffn_down_exps.scale")).count()).isEqualTo(1);
            }
        }
    }

    /** Every value of expert e decodes (without the .scale) to the checkpoint's e2m1 · e4m3 exactly. */
    static void assertSameBlocks(GgufFile f, GgufTensorInfo t, int e, Nvfp4Tensor x) {
        int cols = (int) t.ne()[0], rows = (int) t.ne()[1];
        float[] row = new float[cols];
        long rowBytes = GgmlType.NVFP4.rowBytes(cols);
        for (int r = 0; r < rows; r++) {
            BlockCodec.reference(GgmlType.NVFP4).decode(f.tensorData(t), ((long) e * rows + r) * rowBytes, row, 0, cols);
            for (int c = 0; c < cols; c++) {
                float want = Fp4E2M1.toFloat(x.code(r, c)) * Float8.e4m3ToFloat((byte) x.scaleCode(r, c / 16));
                assertThat(row[c]).as("%s expert %d [%d,%d]", t.name(), e, r, c).isEqualTo(want);
            }
        }
    }

    /** Expert e of a GGUF kind, from the checkpoint's groups (a stacked gate_up_proj split in halves). */
    static Nvfp4Tensor expert(Nvfp4Checkpoint q, int layer, String kind, int e) {
        String proj = kind.equals("ffn_gate_exps") ? "gate_proj" : kind.equals("ffn_up_exps") ? "up_proj" : "down_proj";
        for (Nvfp4Experts g : q.experts()) {
            if (g.layer() != layer) continue;
            if (g.projection().equals(proj)) return g.experts().get(e);
            if (g.projection().equals("gate_up_proj") && !proj.equals("down_proj")) {
                Nvfp4Tensor t = g.experts().get(e);
                long half = t.rows() / 2, first = proj.equals("gate_proj") ? 0 : half;
                return new Nvfp4Tensor(t.module(), t.weightName(), half, t.cols(), t.packed().asSlice(first * t.cols() / 2, half * t.cols() / 2),
                        t.scales().asSlice(first * t.cols() / 16, half * t.cols() / 16), t.weightScale(), t.inputScale());
            }
        }
        throw new AssertionError("no " + proj + " experts in layer " + layer);
    }

    static float[] routerScale(SafetensorsCheckpoint ck, int layer) {
        var e = ck.get("model.layers." + layer + ".router.per_expert_scale").orElseThrow();
        float[] v = new float[(int) e.tensor().elementCount()];
        e.tensor().dtype().toFloats(e.file().data(e.tensor()), 0, v, 0, v.length);
        return v;
    }

    static float[] floats(GgufFile f, String name) {
        GgufTensorInfo t = f.tensor(name).orElseThrow(() -> new AssertionError("no " + name));
        float[] v = new float[(int) t.spec().elementCount()];
        for (int i = 0; i < v.length; i++) v[i] = f.tensorData(t).get(LittleEndian.FLOAT, 4L * i);
        return v;
    }

    /** Other --types dequantize the experts; the router's per-expert scale then stays ffn_down_exps.scale. */
    @Test
    void otherTypesDequantizeTheExperts() throws IOException {
        Path nv = SyntheticNvfp4Moe.write(bf16(), tmp.resolve("nv"), Nvfp4Format.MODELOPT, SyntheticNvfp4Moe.Layout.PER_EXPERT);
        Path gguf = convert(nv, tmp.resolve("f32.gguf"), FileType.F32);
        try (GgufFile f = GgufFile.open(gguf); SafetensorsCheckpoint ck = SafetensorsCheckpoint.open(nv)) {
            Nvfp4Checkpoint q = Nvfp4Checkpoint.scan(nv, ck);
            GgufTensorInfo t = f.tensor("blk.1.ffn_down_exps.weight").orElseThrow();
            assertThat(t.type()).isEqualTo(GgmlType.F32);
            Nvfp4Tensor x = expert(q, 1, "ffn_down_exps", 2);
            float[] want = new float[MOE_FF];
            x.dequantizeRow(5, want, 0);
            for (int c = 0; c < MOE_FF; c++) {
                assertThat(f.tensorData(t).get(LittleEndian.FLOAT, 4L * ((2L * HIDDEN + 5) * MOE_FF + c))).isEqualTo(want[c]);
            }
            assertThat(floats(f, "blk.1.ffn_down_exps.scale")).containsExactly(routerScale(ck, 1));
        }
    }

    /** llama.cpp loads the NVFP4 MoE GGUF and computes what the exactly dequantized (F32) conversion computes. */
    @Test
    void llamaCppRunsNvfp4Experts() throws IOException {
        dev.requant.llamacpp.LlamaCppEngine probe = LlamaCppProbe.forTests();
        Path bf16 = bf16();
        Path nv = SyntheticNvfp4Moe.write(bf16, tmp.resolve("nv"), Nvfp4Format.MODELOPT, SyntheticNvfp4Moe.Layout.PER_EXPERT);
        Path kept = convert(nv, tmp.resolve("nv.gguf"), null);
        Path exact = convert(nv, tmp.resolve("f32.gguf"), FileType.F32);
        String text = Files.readString(Golden.text("calibration.txt")).substring(0, 2000);
        int[] ids = Arrays.copyOf(probe.tokenize(exact, text, false), 64);
        ids[0] = 2;
        float[][] want = probe.logits(exact, ids), got = probe.logits(kept, ids);
        for (float[] l : got) for (float v : l) assertThat(Float.isFinite(v)).isTrue();
        double kld = Nvfp4LlamaCppTest.kld(want, got);
        System.out.printf("NVFP4 MoE in llama.cpp vs its exact F32 dequantization: mean KLD %.3g%n", kld);
        assertThat(kld).isLessThan(0.01);
    }
}
