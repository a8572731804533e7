package dev.requant.converter.qat;

import static org.assertj.core.api.Assertions.assertThat;

import dev.requant.formats.ggml.BlockCodec;
import dev.requant.formats.ggml.GgmlType;
import dev.requant.formats.gguf.GgufMetadata;
import dev.requant.formats.gguf.GgufTensorSpec;
import dev.requant.formats.gguf.GgufValue;
import dev.requant.formats.gguf.GgufWriter;
import dev.requant.formats.model.GgufModelSource;
import dev.requant.testmodels.QatWeights;
import dev.requant.testmodels.QatWeights.ScaleDtype;
import dev.requant.testmodels.QatWeights.ScaleRule;
import java.io.IOException;
import java.lang.foreign.MemorySegment;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class QatReportTest {
    @TempDir Path tmp;

    record Planned(String name, int rows, int cols, ScaleRule rule, ScaleDtype dtype) {}

    static Path writeBf16Gguf(Path out, List<Planned> tensors) throws IOException {
        List<GgufTensorSpec> specs = new ArrayList<>();
        for (Planned p : tensors) specs.add(GgufTensorSpec.ofTorchShape(p.name(), GgmlType.BF16, p.rows(), p.cols()));
        specs.add(new GgufTensorSpec("blk.0.attn_norm.weight", GgmlType.F32, new long[] {64}));
        GgufMetadata md = new GgufMetadata().put("general.architecture", GgufValue.string("gemma3"));
        BlockCodec bf16 = BlockCodec.of(GgmlType.BF16);
        try (GgufWriter w = GgufWriter.create(out, md, specs)) {
            for (int t = 0; t < tensors.size(); t++) {
                Planned p = tensors.get(t);
                float[] row = new float[p.cols()];
                byte[] bytes = new byte[p.cols() * 2];
                try (var sink = w.beginTensor(p.name())) {
                    for (int r = 0; r < p.rows(); r++) {
                        QatWeights.row(t + 1, r, p.rule(), p.dtype(), 0.02f, 0.01, row, 0, p.cols());
                        bf16.encodeRow(row, 0, p.cols(), null, MemorySegment.ofArray(bytes), 0);
                        sink.write(bytes, 0, bytes.length);
                    }
                }
            }
            w.writeTensor("blk.0.attn_norm.weight", MemorySegment.ofArray(new byte[256]));
            w.commit();
        }
        return out;
    }

    @Test
    void tellsWhichTensorClassesWereTrainedOnTheLattice() throws IOException {
        Path gguf = writeBf16Gguf(tmp.resolve("m.gguf"), List.of(
                new Planned("token_embd.weight", 96, 64, ScaleRule.LEARNED, ScaleDtype.BF16),
                new Planned("blk.0.attn_q.weight", 64, 64, ScaleRule.MAX_NEG8, ScaleDtype.BF16),
                new Planned("blk.1.attn_q.weight", 64, 64, ScaleRule.MAX_NEG8, ScaleDtype.BF16),
                new Planned("blk.0.ffn_up.weight", 128, 64, ScaleRule.ABSMAX_7, ScaleDtype.FP32),
                new Planned("blk.0.ffn_down.weight", 64, 128, ScaleRule.NONE, ScaleDtype.BF16)));
        try (var model = GgufModelSource.open(gguf)) {
            QatReport r = QatReport.analyse(model, 0, 2, null);
            assertThat(r.tensors()).hasSize(5);
            LatticeStats q = r.byClass().get("attn_q");
            assertThat(q.exactFraction()).isEqualTo(1.0);
            assertThat(q.dominantRule()).isEqualTo(LatticeRule.SIGNED_MAX_OVER_NEG8);
            assertThat(q.scaleDtype()).isEqualTo("bf16");
            assertThat(q.blocks()).isEqualTo(2 * 64 * 2);
            LatticeStats e = r.byClass().get("token_embd");
            assertThat(e.exactFraction()).isEqualTo(1.0);
            assertThat(e.dominantRule()).isEqualTo(LatticeRule.LEARNED);
            LatticeStats up = r.byClass().get("ffn_up");
            assertThat(up.exactFraction()).isBetween(0.90, 0.9999);
            assertThat(up.scaleDtype()).isEqualTo("fp32");
            assertThat(up.dominantRule()).isEqualTo(LatticeRule.ABSMAX_OVER_7);
            assertThat(up.maxAbsError()).isPositive();
            LatticeStats down = r.byClass().get("ffn_down");
            assertThat(down.exactFraction()).isLessThan(0.1);
            assertThat(r.alignedClasses()).containsExactly("token_embd", "attn_q", "ffn_up");
            assertThat(r.unalignedClasses()).containsExactly("ffn_down");
            // sampling looks at fewer rows and still sees the same picture
            QatReport sampled = QatReport.analyse(model, 8, 1, null);
            assertThat(sampled.byClass().get("attn_q").blocks()).isEqualTo(2 * 8 * 2);
            assertThat(sampled.alignedClasses()).contains("attn_q", "token_embd");
        }
    }

    @Test
    void tensorClassWithoutTheRegexAnswersAsThePattern() {
        String[] parts = {"a.", "v.", "blk.", "blk", "12", "3", ".", "..", "attn_q", "weight", ".weight", "x", "token_embd", "_", "A"};
        java.util.SplittableRandom r = new java.util.SplittableRandom(5);
        int plain = 0;
        for (int n = 0; n < 50000; n++) {
            StringBuilder b = new StringBuilder();
            for (int k = r.nextInt(1, 7); k > 0; k--) b.append(parts[r.nextInt(parts.length)]);
            if (n % 3 == 0) b.insert(0, "blk." + r.nextInt(40) + ".");
            if (n % 5 == 0) b.insert(0, r.nextBoolean() ? "a." : "v.");
            String name = b.toString();
            String fast = QatReport.plainTensorClass(name);
            if (fast != null) plain++;
            assertThat(QatReport.tensorClass(name)).as(name).isEqualTo(QatReport.tensorClassByPattern(name));
        }
        assertThat(plain).isGreaterThan(40000);
        assertThat(QatReport.tensorClass("blk.1.x\n")).isEqualTo(QatReport.tensorClassByPattern("blk.1.x\n"));
        assertThat(QatReport.tensorClass("v.blk.0.attn_q.weight")).isEqualTo("v.attn_q");
        assertThat(QatReport.tensorClass("blk.0..weight")).isEqualTo(".weight");
    }

    @Test
    void tensorClassesStripLayerAndSuffix() {
        assertThat(QatReport.tensorClass("blk.12.ffn_down.weight")).isEqualTo("ffn_down");
        assertThat(QatReport.tensorClass("token_embd.weight")).isEqualTo("token_embd");
        assertThat(QatReport.tensorClass("per_layer_token_embd.weight")).isEqualTo("per_layer_token_embd");
    }
}
