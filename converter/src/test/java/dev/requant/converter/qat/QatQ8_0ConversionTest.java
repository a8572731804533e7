package dev.requant.converter.qat;

import static org.assertj.core.api.Assertions.assertThat;

import dev.requant.converter.ConversionPlan;
import dev.requant.converter.ConversionSettings;
import dev.requant.converter.GemmaPlanner;
import dev.requant.converter.GgufConversion;
import dev.requant.converter.MmprojPlanner;
import dev.requant.converter.ModelSources;
import dev.requant.converter.PlannedTensor;
import dev.requant.converter.TypePolicy;
import dev.requant.formats.ggml.BFloat16;
import dev.requant.formats.ggml.BlockCodec;
import dev.requant.formats.ggml.GgmlType;
import dev.requant.formats.gguf.FileType;
import dev.requant.formats.gguf.GgufFile;
import dev.requant.formats.gguf.GgufTensorInfo;
import dev.requant.formats.safetensors.SafetensorsCheckpoint;
import dev.requant.testmodels.SyntheticCheckpoint;
import dev.requant.testmodels.SyntheticTensor;
import dev.requant.testmodels.WeightGenerator;
import java.io.IOException;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.SplittableRandom;
import java.util.function.Predicate;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Q8_0 lattices end to end: a checkpoint whose projector (and one text tensor) was trained onto Q8_0 blocks, converted
 * with --type q8_0 (text and --mmproj): the lattice tensors keep their codes and scales (every block decodes back to the
 * stored BF16 bits), all others are llama.cpp's Q8_0 byte for byte, and qat-report finds the Q8_0 classes, the
 * projector's included.
 */
class QatQ8_0ConversionTest {
    @TempDir Path tmp;

    /** Blocks of 8-bit QAT (absmax/127 F16 scales, BF16 storage) for matching 2-D tensors, {@code base} for the rest. */
    static WeightGenerator q8Lattice(Predicate<String> onLattice, WeightGenerator base) {
        return (t, first, dst, n) -> {
            long[] shape = t.shape();
            if (shape.length < 2 || shape[shape.length - 1] % 32 != 0 || !onLattice.test(t.name())) {
                base.fill(t, first, dst, n);
                return;
            }
            for (int k = 0; k < n; ) {
                long b = (first + k) / 32;
                SplittableRandom r = new SplittableRandom(t.name().hashCode() * 31L + b);
                float[] block = Q8_0LatticeTest.latticeBlock(r, StoredPrecision.BF16, null, null);
                int at = (int) ((first + k) % 32);
                int take = Math.min(32 - at, n - k);
                System.arraycopy(block, at, dst, k, take);
                k += take;
            }
        };
    }

    private Path checkpoint(String name) throws IOException {
        int hidden = 64;
        Map<String, long[]> projector = new java.util.LinkedHashMap<>();
        projector.put("model.vision_tower.encoder.layers.0.mlp.down_proj.linear.weight", new long[] {64, 128});
        projector.put("model.vision_tower.encoder.layers.0.mlp.up_proj.linear.weight", new long[] {128, 64});
        projector.put("model.embed_vision.embedding_projection.weight", new long[] {hidden, 64});
        Path dir = SyntheticCheckpoint.gemma4().style(SyntheticCheckpoint.ConfigStyle.SPARSE_MULTIMODAL).layers(2).hiddenSize(hidden)
                .tensors(list -> {
                    List<SyntheticTensor> out = new ArrayList<>();
                    for (SyntheticTensor t : list) if (t.name().contains("language_model.")) out.add(t);
                    projector.forEach((n, s) -> out.add(new SyntheticTensor(n, s, list.getFirst().dtype(), true)));
                    return out;
                })
                .config(c -> {
                    c.putObject("vision_config").put("hidden_size", 64).put("intermediate_size", 128).put("num_hidden_layers", 1)
                            .put("num_attention_heads", 2);
                    c.remove("audio_config");
                    return c;
                })
                .weights(q8Lattice(n -> n.startsWith("model.vision_tower.") || n.endsWith("layers.1.mlp.up_proj.weight"), WeightGenerator.hashed(3)))
                .write(tmp.resolve(name));
        Files.writeString(dir.resolve("preprocessor_config.json"), "{\"image_mean\": [0.5, 0.5, 0.5], \"image_std\": [0.5, 0.5, 0.5]}");
        return dir;
    }

    private static Map<String, PlannedTensor> convert(Path dir, Path out, QatPolicy.Mode mode, boolean mmproj) throws IOException {
        QatPolicy qat = new QatPolicy(mode);
        TypePolicy policy = qat.apply(TypePolicy.defaults());
        ConversionSettings s = ConversionSettings.of(FileType.Q8_0);
        try (ConversionPlan plan = mmproj ? MmprojPlanner.plan(dir, s, policy) : GemmaPlanner.plan(dir, s, policy)) {
            GgufConversion.write(plan, qat.metadata(plan), out, null, w -> qat.fillIn(w, plan));
            Map<String, PlannedTensor> m = new HashMap<>();
            for (PlannedTensor t : plan.tensors()) m.put(t.ggufName(), t);
            return m;
        }
    }

    /** Whether every block of a Q8_0 tensor decodes, rounded to BF16, to the stored bits. */
    private static boolean decodesToStored(GgufFile f, GgufTensorInfo t, SafetensorsCheckpoint ck, String hf) {
        var e = ck.get(hf).orElseThrow();
        float[] stored = new float[(int) e.tensor().elementCount()];
        e.tensor().dtype().toFloats(e.file().data(e.tensor()), 0, stored, 0, stored.length);
        float[] got = new float[stored.length];
        BlockCodec.of(GgmlType.Q8_0).decode(f.tensorData(t), 0, got, 0, got.length);
        for (int i = 0; i < got.length; i++) if (BFloat16.round(got[i]) != stored[i]) return false;
        return true;
    }

    /** The bytes llama.cpp's Q8_0 encoder makes of the stored tensor. */
    private static byte[] referenceQ8_0(SafetensorsCheckpoint ck, String hf) {
        var e = ck.get(hf).orElseThrow();
        float[] v = new float[(int) e.tensor().elementCount()];
        e.tensor().dtype().toFloats(e.file().data(e.tensor()), 0, v, 0, v.length);
        MemorySegment out = MemorySegment.ofArray(new byte[v.length / 32 * 34]);
        BlockCodec.of(GgmlType.Q8_0).encodeRow(v, 0, v.length, null, out, 0);
        return out.toArray(ValueLayout.JAVA_BYTE);
    }

    @Test
    void latticeTensorsKeepTheirCodesOthersStayLlamaCpps() throws IOException {
        Path dir = checkpoint("hf");
        Path mm = tmp.resolve("mmproj-q8_0.gguf");
        Map<String, PlannedTensor> plan = convert(dir, mm, QatPolicy.Mode.AUTO, true);
        try (GgufFile f = GgufFile.open(mm); SafetensorsCheckpoint ck = SafetensorsCheckpoint.open(dir)) {
            for (String name : List.of("v.blk.0.ffn_down.weight", "v.blk.0.ffn_up.weight")) {
                GgufTensorInfo t = f.tensor(name).orElseThrow();
                assertThat(t.type()).isEqualTo(GgmlType.Q8_0);
                assertThat(plan.get(name).decision().rule()).as(name).startsWith("qat: lattice q8_0 (100.0% exact");
                assertThat(decodesToStored(f, t, ck, plan.get(name).hfName())).as(name).isTrue();
            }
            GgufTensorInfo plain = f.tensor("mm.input_projection.weight").orElseThrow();
            assertThat(plain.type()).isEqualTo(GgmlType.Q8_0);
            assertThat(f.tensorData(plain).toArray(ValueLayout.JAVA_BYTE)).isEqualTo(referenceQ8_0(ck, "model.embed_vision.embedding_projection.weight"));
            assertThat(f.metadata().getLong("requant.qat.lattice_tensors")).contains(2L);
            assertThat(f.metadata().getFloat("requant.qat.exact_fraction.v.ffn_down")).contains(1.0f);
        }
        // the text model: the one lattice tensor keeps its codes, the rest is llama.cpp's Q8_0
        Path text = tmp.resolve("q8_0.gguf");
        Map<String, PlannedTensor> textPlan = convert(dir, text, QatPolicy.Mode.AUTO, false);
        try (GgufFile f = GgufFile.open(text); SafetensorsCheckpoint ck = SafetensorsCheckpoint.open(dir)) {
            assertThat(textPlan.get("blk.1.ffn_up.weight").decision().rule()).startsWith("qat: lattice q8_0");
            assertThat(decodesToStored(f, f.tensor("blk.1.ffn_up.weight").orElseThrow(), ck, "model.language_model.layers.1.mlp.up_proj.weight")).isTrue();
            assertThat(f.tensorData(f.tensor("blk.0.ffn_up.weight").orElseThrow()).toArray(ValueLayout.JAVA_BYTE))
                    .isEqualTo(referenceQ8_0(ck, "model.language_model.layers.0.mlp.up_proj.weight"));
        }
        // --qat off: llama.cpp's encoder everywhere, and no requant.qat keys (the file stays convert_hf_to_gguf.py's)
        Path off = tmp.resolve("off.gguf");
        convert(dir, off, QatPolicy.Mode.OFF, true);
        try (GgufFile f = GgufFile.open(off); SafetensorsCheckpoint ck = SafetensorsCheckpoint.open(dir)) {
            assertThat(f.metadata().keys()).noneMatch(k -> k.startsWith("requant."));
            assertThat(f.tensorData(f.tensor("v.blk.0.ffn_down.weight").orElseThrow()).toArray(ValueLayout.JAVA_BYTE))
                    .isEqualTo(referenceQ8_0(ck, "model.vision_tower.encoder.layers.0.mlp.down_proj.linear.weight"));
        }
    }

    @Test
    void withoutLatticeTensorsQ8_0OutputHasNoRequantKeys() throws IOException {
        Path dir = SyntheticCheckpoint.gemma3().layers(1).write(tmp.resolve("plain"));
        Path out = tmp.resolve("plain.gguf");
        Map<String, PlannedTensor> plan = convert(dir, out, QatPolicy.Mode.AUTO, false);
        assertThat(plan.values()).noneMatch(t -> t.decision().rule().startsWith("qat"));
        try (GgufFile f = GgufFile.open(out)) {
            assertThat(f.metadata().keys()).noneMatch(k -> k.startsWith("requant."));
        }
    }

    @Test
    void qatReportFindsTheQ8_0ClassesOfTextAndProjector() throws IOException {
        Path dir = checkpoint("hf");
        try (var text = ModelSources.open(dir); var projector = ModelSources.openProjector(dir).orElseThrow()) {
            QatReport r = QatReport.analyse(List.of(text, projector), 0, 2, null);
            assertThat(r.alignedQ8_0Classes()).contains("v.ffn_down", "v.ffn_up");
            assertThat(r.byClassQ8_0().get("v.ffn_down").exactFraction()).isEqualTo(1.0);
            assertThat(r.byClassQ8_0().get("v.ffn_down").dominantRule()).isEqualTo(LatticeRule.ABSMAX_OVER_127);
            assertThat(r.byClass().get("v.ffn_down").aligned()).isFalse(); // not a Q4_0 lattice
            assertThat(r.byClassQ8_0().get("attn_q").aligned()).isFalse();
            assertThat(r.unalignedClasses()).contains("attn_q", "mm.input_projection");
            // ffn_up: layer 1 on the lattice, layer 0 not: half the blocks
            assertThat(r.byClassQ8_0().get("ffn_up").exactFraction()).isBetween(0.45, 0.55);
        }
    }
}
