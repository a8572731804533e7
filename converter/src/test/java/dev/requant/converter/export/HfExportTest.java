package dev.requant.converter.export;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.requant.converter.ConversionPlan;
import dev.requant.converter.ConversionSettings;
import dev.requant.formats.model.GemmaArch;
import dev.requant.converter.GemmaPlanner;
import dev.requant.converter.GemmaTensorNames;
import dev.requant.converter.GgufConversion;
import dev.requant.formats.gguf.FileType;
import dev.requant.converter.TypePolicy;
import dev.requant.converter.qat.QatPolicy;
import dev.requant.formats.FormatException;
import dev.requant.formats.ggml.BFloat16;
import dev.requant.formats.ggml.GgmlType;
import dev.requant.formats.gguf.GgufFile;
import dev.requant.formats.gguf.GgufTensorInfo;
import dev.requant.formats.nvfp4.Nvfp4Format;
import dev.requant.formats.safetensors.SafetensorsCheckpoint;
import dev.requant.formats.safetensors.SafetensorsDtype;
import dev.requant.formats.tokenizer.SentencePieceModel;
import dev.requant.testmodels.Golden;
import dev.requant.testmodels.QatWeights;
import dev.requant.testmodels.QatWeights.Assignment;
import dev.requant.testmodels.QatWeights.ScaleDtype;
import dev.requant.testmodels.QatWeights.ScaleRule;
import dev.requant.testmodels.SyntheticCheckpoint;
import dev.requant.testmodels.SyntheticNvfp4;
import dev.requant.testmodels.WeightGenerator;
import java.io.IOException;
import java.lang.foreign.ValueLayout;
import java.nio.file.FileAlreadyExistsException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

/** requant export: GGUF back to a Hugging Face folder, checked by round trips through the converter. */
class HfExportTest {
    static final ObjectMapper JSON = new ObjectMapper();
    @TempDir Path tmp;

    static void convert(Path hf, Path gguf, ConversionSettings s) throws IOException {
        try (ConversionPlan plan = GemmaPlanner.plan(hf, s)) {
            GgufConversion.write(plan, gguf, null);
        }
    }

    static HfExport.Summary export(Path gguf, Path out, ExportSettings s) throws IOException {
        try (GgufFile f = GgufFile.open(gguf)) {
            return HfExport.write(HfExport.plan(f, s), out, null);
        }
    }

    /** BF16 HF -> GGUF -> HF: the golden transformers checkpoints come back bit for bit, and their config keys too. */
    @ParameterizedTest
    @CsvSource({"gemma3-tiny,", "gemma4-tiny,", "gemma4-unified-tiny,Gemma4UnifiedForCausalLM"})
    void goldenCheckpointsComeBackBitForBit(String name, String hfClass) throws IOException {
        Path golden = Golden.hf(name);
        Path gguf = tmp.resolve(name + ".gguf");
        convert(golden, gguf, ConversionSettings.of(FileType.BF16));
        Path out = tmp.resolve("out");
        HfExport.Summary s = export(gguf, out, ExportSettings.of(ExportSettings.Dtype.BF16).withHfClass(hfClass));
        assertThat(s.inexactElements()).isEmpty();

        // the whole safetensors file, header included, is what transformers wrote
        assertThat(Files.readAllBytes(out.resolve("model.safetensors"))).isEqualTo(Files.readAllBytes(golden.resolve("model.safetensors")));

        JsonNode want = JSON.readTree(golden.resolve("config.json").toFile()), got = JSON.readTree(out.resolve("config.json").toFile());
        List<String> diff = new ArrayList<>();
        for (var e : want.properties()) {
            if (e.getKey().equals("transformers_version")) continue;
            if (!same(e.getValue(), got.get(e.getKey()))) diff.add(e.getKey() + ": want " + e.getValue() + ", got " + got.get(e.getKey()));
        }
        assertThat(diff).isEmpty();

        // the SentencePiece pieces, types and scores too (the converter turned user-defined pieces into normal ones)
        SentencePieceModel a = SentencePieceModel.read(golden.resolve("tokenizer.model")), b = SentencePieceModel.read(out.resolve("tokenizer.model"));
        assertThat(b.pieces()).hasSize(a.pieces().size());
        for (int i = 0; i < a.pieces().size(); i++) {
            var p = a.pieces().get(i);
            var q = b.pieces().get(i);
            assertThat(q.text()).isEqualTo(p.text());
            assertThat(Float.floatToRawIntBits(q.score())).as(p.text()).isEqualTo(Float.floatToRawIntBits(p.score()));
            assertThat(q.type()).as(p.text()).isEqualTo(p.type());
        }
        assertThat(b.trainer().byteFallback()).isTrue();
        assertThat(b.trainer().unkId()).isEqualTo(a.trainer().unkId());
        assertThat(b.trainer().bosId()).isEqualTo(a.trainer().bosId());
        assertThat(b.trainer().eosId()).isEqualTo(a.trainer().eosId());
    }

    /** GGUF -> HF -> GGUF: the exported folder converts back to the same bytes (names, model card, tokenizer, config). */
    @ParameterizedTest
    @CsvSource({"gemma3-tiny,Tiny Gemma3", "gemma4-tiny,", "gemma4-unified-tiny,"})
    void exportedGoldenFoldersConvertBackToTheSameGguf(String name, String modelName) throws IOException {
        Path first = tmp.resolve("first.gguf");
        convert(Golden.hf(name), first, new ConversionSettings(FileType.BF16, modelName));
        Path out = tmp.resolve("exported-" + name);
        export(first, out, ExportSettings.of(ExportSettings.Dtype.BF16));
        Path second = tmp.resolve("second.gguf");
        convert(out, second, ConversionSettings.auto());
        assertSameGguf(second, first);
    }

    /** Gemma 4 shapes the golden models lack: MoE (fused 3-D experts, router scales), k_eq_v, shared KV, double-wide MLP, F32. */
    @Test
    void gemma4VariantsConvertBackToTheSameGguf() throws IOException {
        Path hf = SyntheticCheckpoint.gemma4().hiddenSize(128).intermediateSize(256).layers(12).sharedKvLayers(2).kEqV(1).doubleWideMlp().moe(4, 2, 64).perLayerInput(16)
                .finalLogitSoftcapping(30.0).write(tmp.resolve("hf"));
        for (ExportSettings.Dtype d : ExportSettings.Dtype.values()) {
            Path first = tmp.resolve("first-" + d + ".gguf");
            convert(hf, first, ConversionSettings.of(d == ExportSettings.Dtype.F32 ? FileType.F32 : FileType.BF16));
            Path out = tmp.resolve("exported-" + d);
            HfExport.Summary s = export(first, out, ExportSettings.of(d));
            assertThat(s.inexactElements()).isEmpty();
            Path second = tmp.resolve("second-" + d + ".gguf");
            convert(out, second, ConversionSettings.of(d == ExportSettings.Dtype.F32 ? FileType.F32 : FileType.BF16));
            assertSameGguf(second, first);
            JsonNode c = JSON.readTree(out.resolve("config.json").toFile());
            assertThat(c.get("enable_moe_block").asBoolean()).isTrue();
            assertThat(c.get("attention_k_eq_v").asBoolean()).isTrue();
            assertThat(c.get("use_double_wide_mlp").asBoolean()).isTrue();
            assertThat(c.get("num_kv_shared_layers").asInt()).isEqualTo(2);
        }
        // BF16 checkpoint -> BF16 GGUF -> BF16: the tensors are the checkpoint's
        try (SafetensorsCheckpoint a = SafetensorsCheckpoint.open(hf); SafetensorsCheckpoint b = SafetensorsCheckpoint.open(tmp.resolve("exported-BF16"))) {
            assertSameTensors(a, b);
        }
    }

    /** Gemma 4's BPE vocabulary (tokenizer.json with merges and added tokens) and generation_config sampling keys survive too. */
    @Test
    void gemma4BpeVocabularyConvertsBackToTheSameGguf() throws IOException {
        Path hf = SyntheticCheckpoint.gemma4().hiddenSize(128).intermediateSize(256).tokenizerJson().write(tmp.resolve("hf"));
        Files.writeString(hf.resolve("generation_config.json"), "{\"bos_token_id\": 2, \"top_k\": 64, \"top_p\": 0.95, \"temperature\": 1.0}");
        Path first = tmp.resolve("first.gguf");
        convert(hf, first, ConversionSettings.of(FileType.BF16));
        Path out = tmp.resolve("exported");
        export(first, out, ExportSettings.of(ExportSettings.Dtype.BF16));
        assertThat(out.resolve("tokenizer.json")).exists();
        assertThat(out.resolve("tokenizer.model")).doesNotExist();
        Path second = tmp.resolve("second.gguf");
        convert(out, second, ConversionSettings.of(FileType.BF16));
        assertSameGguf(second, first);
        try (GgufFile f = GgufFile.open(second)) {
            assertThat(f.metadata().getString("tokenizer.ggml.model")).contains("gemma4");
            assertThat(f.metadata().getArray("tokenizer.ggml.merges")).isPresent();
            assertThat(f.metadata().get("general.sampling.top_k")).isPresent();
        }
    }

    /** A QAT checkpoint converted to lattice Q4_0 and exported back reproduces every lattice tensor's BF16 bits. */
    @Test
    void qatLatticeQ4_0ComesBackAsTheCheckpointsBf16Bits() throws IOException {
        Path hf = SyntheticCheckpoint.gemma3().weights(QatWeights.generator(7, 0.02f, n -> Assignment.of(ScaleRule.LEARNED, ScaleDtype.BF16),
                WeightGenerator.hashed(7))).write(tmp.resolve("hf"));
        Path gguf = tmp.resolve("q4_0.gguf");
        QatPolicy qat = new QatPolicy(QatPolicy.Mode.AUTO);
        try (ConversionPlan plan = GemmaPlanner.plan(hf, ConversionSettings.of(FileType.Q4_0), qat.apply(TypePolicy.defaults()))) {
            GgufConversion.write(plan, qat.metadata(plan), gguf, null, w -> qat.fillIn(w, plan));
        }
        Path out = tmp.resolve("exported");
        HfExport.Summary s = export(gguf, out, ExportSettings.of(ExportSettings.Dtype.BF16));
        assertThat(s.inexactElements()).isEmpty();
        int lattice = 0;
        try (GgufFile f = GgufFile.open(gguf); SafetensorsCheckpoint a = SafetensorsCheckpoint.open(hf); SafetensorsCheckpoint b = SafetensorsCheckpoint.open(out)) {
            for (GgufTensorInfo t : f.tensors()) {
                String name = GemmaTensorNames.checkpointName(t.name(), GemmaArch.GEMMA3).orElseThrow();
                var x = a.get(name).orElseThrow();
                var y = b.get(name).orElseThrow();
                assertThat(y.tensor().shape()).isEqualTo(x.tensor().shape());
                if (t.type() == GgmlType.Q4_0) {
                    lattice++;
                    assertThat(bytes(y)).as(name).isEqualTo(bytes(x));
                } else {
                    // norm weights: the GGUF holds float32 w + 1, which loses tiny |w| (< 2^-16) in the conversion; the
                    // export gives back a w with the same w + 1
                    assertThat(name).endsWith("norm.weight");
                    float[] wx = floats(x), wy = floats(y);
                    for (int i = 0; i < wx.length; i++) assertThat(wy[i] + 1f).as(name + "[" + i + "]").isEqualTo(wx[i] + 1f);
                }
            }
        }
        assertThat(lattice).isEqualTo(1 + 6 * 7);
    }

    /** NVFP4 GGUF -> ModelOpt folder: the checkpoint's codes and scales come back, and it converts to the same GGUF. */
    @ParameterizedTest
    @CsvSource({"GEMMA4,MODELOPT", "GEMMA4,COMPRESSED_TENSORS", "GEMMA3,MODELOPT"})
    void nvfp4ComesBackAsModelOpt(String family, Nvfp4Format format) throws IOException {
        SyntheticCheckpoint.Builder b = family.equals("GEMMA3") ? SyntheticCheckpoint.gemma3() : SyntheticCheckpoint.gemma4();
        Path bf16 = b.hiddenSize(128).intermediateSize(256).headDim(64).write(tmp.resolve("bf16"));
        Path nv = SyntheticNvfp4.write(bf16, tmp.resolve("nvfp4"), format, Map.of());
        Path first = tmp.resolve("first.gguf");
        convert(nv, first, ConversionSettings.auto());
        Path out = tmp.resolve("exported");
        export(first, out, ExportSettings.of(ExportSettings.Dtype.BF16));
        Path second = tmp.resolve("second.gguf");
        convert(out, second, ConversionSettings.auto());
        assertSameGguf(second, first);
        JsonNode q = JSON.readTree(out.resolve("config.json").toFile()).get("quantization_config");
        assertThat(q.get("quant_method").asText()).isEqualTo("modelopt");
        assertThat(q.get("quant_algo").asText()).isEqualTo("W4A16_NVFP4");
        assertThat(Files.exists(out.resolve("hf_quant_config.json"))).isTrue();
        try (SafetensorsCheckpoint a = SafetensorsCheckpoint.open(nv); SafetensorsCheckpoint e = SafetensorsCheckpoint.open(out)) {
            boolean ct = format == Nvfp4Format.COMPRESSED_TENSORS;
            int compared = 0;
            for (SafetensorsCheckpoint.Entry x : a.entries()) {
                String n = x.name();
                if (!n.endsWith(ct ? ".weight_packed" : ".weight") || x.tensor().dtype() != SafetensorsDtype.U8) continue;
                String module = n.substring(0, n.lastIndexOf('.'));
                var codes = e.get(module + ".weight").orElseThrow();
                assertThat(bytes(codes)).as(n).isEqualTo(bytes(x));
                if (family.equals("GEMMA4")) {
                    // Gemma 4 applies every .scale, so the split is convert_hf_to_gguf.py's: scales stored as they were
                    assertThat(bytes(e.get(module + ".weight_scale").orElseThrow())).as(module).isEqualTo(bytes(a.get(module + ".weight_scale").orElseThrow()));
                }
                compared++;
            }
            assertThat(compared).isGreaterThan(10);
        }
    }

    /** NVFP4 experts (Gemma 4 MoE) come back as ModelOpt per-expert modules with the same codes, and convert to the same GGUF. */
    @ParameterizedTest
    @CsvSource({"MODELOPT,PER_EXPERT", "COMPRESSED_TENSORS,STACKED"})
    void nvfp4ExpertsComeBackPerExpert(Nvfp4Format format, dev.requant.testmodels.SyntheticNvfp4Moe.Layout layout) throws IOException {
        Path bf16 = SyntheticCheckpoint.gemma4().hiddenSize(128).intermediateSize(256).layers(2).moe(4, 2, 64).write(tmp.resolve("bf16"));
        Path nv = dev.requant.testmodels.SyntheticNvfp4Moe.write(bf16, tmp.resolve("nv"), format, layout);
        Path first = tmp.resolve("first.gguf");
        convert(nv, first, ConversionSettings.auto());
        Path out = tmp.resolve("exported");
        export(first, out, ExportSettings.of(ExportSettings.Dtype.BF16));
        Path second = tmp.resolve("second.gguf");
        convert(out, second, ConversionSettings.auto());
        assertSameGguf(second, first);
        if (format == Nvfp4Format.MODELOPT) {
            try (SafetensorsCheckpoint a = SafetensorsCheckpoint.open(nv); SafetensorsCheckpoint e = SafetensorsCheckpoint.open(out)) {
                for (String n : new String[] {"model.layers.1.experts.3.down_proj.weight", "model.layers.0.experts.0.gate_proj.weight_scale",
                        "model.layers.0.experts.2.up_proj.input_scale"}) {
                    assertThat(bytes(e.get(n).orElseThrow())).as(n).isEqualTo(bytes(a.get(n).orElseThrow()));
                }
            }
        }
    }

    @Test
    void normWeightsComeBackWheneverTheSumWasExact() {
        for (int bits = 0; bits < 0x10000; bits++) {
            float w = BFloat16.toFloat((short) bits);
            if (!Float.isFinite(w)) continue;
            float stored = w + 1f;
            short r = DenseRows.normWeightBf16(stored);
            assertThat(BFloat16.toFloat(r) + 1f).as("w=%s", w).isEqualTo(stored);
            if ((double) stored - 1.0 == (double) w && Float.floatToRawIntBits(w) != 0x80000000) assertThat(r).as("w=%s", w).isEqualTo((short) bits);
        }
    }

    @Test
    void checkpointNamesInvertTheNameMap() throws IOException {
        for (String name : new String[] {"gemma3-tiny", "gemma4-tiny"}) {
            GemmaArch arch = name.startsWith("gemma3") ? GemmaArch.GEMMA3 : GemmaArch.GEMMA4;
            try (SafetensorsCheckpoint ck = SafetensorsCheckpoint.open(Golden.hf(name))) {
                for (SafetensorsCheckpoint.Entry e : ck.entries()) {
                    var m = (GemmaTensorNames.Mapped) GemmaTensorNames.map(e.name(), arch);
                    assertThat(GemmaTensorNames.checkpointName(m.ggufName(), arch)).as(e.name()).contains(e.name());
                }
            }
        }
        for (String g : new String[] {"blk.3.ffn_gate_up_exps.weight", "blk.3.ffn_down_exps.weight", "blk.3.ffn_gate_inp.scale",
                "blk.3.ffn_down_exps.scale", "blk.3.layer_output_scale.weight", "per_layer_token_embd.weight"}) {
            String hf = GemmaTensorNames.checkpointName(g, GemmaArch.GEMMA4).orElseThrow();
            assertThat(((GemmaTensorNames.Mapped) GemmaTensorNames.map(hf, GemmaArch.GEMMA4)).ggufName()).as(hf).isEqualTo(g);
        }
        assertThat(GemmaTensorNames.checkpointName("rope_freqs.weight", GemmaArch.GEMMA4)).isEmpty();
    }

    @Test
    void badInputIsRefusedWithoutOutput() throws IOException {
        Path gguf = tmp.resolve("g.gguf");
        convert(Golden.hf("gemma3-tiny"), gguf, ConversionSettings.of(FileType.BF16));
        Path busy = Files.createDirectories(tmp.resolve("busy"));
        Files.writeString(busy.resolve("x"), "x");
        assertThatThrownBy(() -> export(gguf, busy, ExportSettings.of(ExportSettings.Dtype.BF16))).isInstanceOf(FileAlreadyExistsException.class);
        assertThatThrownBy(() -> export(gguf, tmp.resolve("o"), ExportSettings.of(ExportSettings.Dtype.BF16).withHfClass("Gemma4ForCausalLM")))
                .isInstanceOf(IllegalArgumentException.class).hasMessageContaining("Gemma3ForCausalLM");
        Path llama = tmp.resolve("llama.gguf");
        dev.requant.formats.gguf.GgufMetadata md = new dev.requant.formats.gguf.GgufMetadata();
        md.put("general.architecture", dev.requant.formats.gguf.GgufValue.string("llama"));
        try (var w = dev.requant.formats.gguf.GgufWriter.create(llama, md, List.of())) {
            w.commit();
        }
        assertThatThrownBy(() -> export(llama, tmp.resolve("o"), ExportSettings.of(ExportSettings.Dtype.BF16)))
                .isInstanceOf(FormatException.class).hasMessageContaining("llama.gguf").hasMessageContaining("'llama' model");
        try (var s = Files.list(tmp)) {
            assertThat(s.map(p -> p.getFileName().toString())).noneMatch(n -> n.endsWith(".tmp-requant") || n.equals("o"));
        }
    }

    /** The same bytes; where not, the keys and tensors that differ, named. */
    static void assertSameGguf(Path got, Path want) throws IOException {
        if (java.util.Arrays.equals(Files.readAllBytes(got), Files.readAllBytes(want))) return;
        List<String> d = new ArrayList<>();
        try (GgufFile g = GgufFile.open(got); GgufFile w = GgufFile.open(want)) {
            JsonNode gm = dev.requant.formats.manifest.GgufManifest.of(g, true, true), wm = dev.requant.formats.manifest.GgufManifest.of(w, true, true);
            for (var e : wm.get("kv").properties()) {
                JsonNode v = gm.get("kv").get(e.getKey());
                if (v == null) d.add("missing key " + e.getKey());
                else if (!v.equals(e.getValue())) d.add("key " + e.getKey() + ": " + abbreviate(v) + " vs " + abbreviate(e.getValue()));
            }
            for (var e : gm.get("kv").properties()) if (!wm.get("kv").has(e.getKey())) d.add("extra key " + e.getKey() + " = " + abbreviate(e.getValue()));
            List<String> go = new ArrayList<>(), wo = new ArrayList<>();
            gm.get("kv").fieldNames().forEachRemaining(go::add);
            wm.get("kv").fieldNames().forEachRemaining(wo::add);
            if (!go.equals(wo)) d.add("key order: " + go + " vs " + wo);
            for (int i = 0; i < Math.max(gm.get("tensors").size(), wm.get("tensors").size()); i++) {
                JsonNode x = gm.get("tensors").get(i), y = wm.get("tensors").get(i);
                if (x == null || y == null || !x.equals(y)) d.add("tensor " + i + ": " + abbreviate(x) + " vs " + abbreviate(y));
            }
        }
        assertThat(d).as("differences of " + got.getFileName() + " from " + want.getFileName()).isNotEmpty();
        assertThat(d).as("differences of " + got.getFileName() + " from " + want.getFileName()).isEmpty();
    }

    static String abbreviate(JsonNode v) {
        String s = String.valueOf(v);
        return s.length() > 160 ? s.substring(0, 160) + "..." : s;
    }

    static void assertSameTensors(SafetensorsCheckpoint a, SafetensorsCheckpoint b) {
        assertThat(b.entries().stream().map(SafetensorsCheckpoint.Entry::name).sorted().toList())
                .isEqualTo(a.entries().stream().map(SafetensorsCheckpoint.Entry::name).sorted().toList());
        for (SafetensorsCheckpoint.Entry x : a.entries()) {
            SafetensorsCheckpoint.Entry y = b.get(x.name()).orElseThrow();
            assertThat(y.tensor().dtype()).as(x.name()).isEqualTo(x.tensor().dtype());
            assertThat(y.tensor().shape()).as(x.name()).isEqualTo(x.tensor().shape());
            assertThat(bytes(y)).as(x.name()).isEqualTo(bytes(x));
        }
    }

    static float[] floats(SafetensorsCheckpoint.Entry e) {
        float[] v = new float[(int) e.tensor().elementCount()];
        e.tensor().dtype().toFloats(e.file().data(e.tensor()), 0, v, 0, v.length);
        return v;
    }

    static byte[] bytes(SafetensorsCheckpoint.Entry e) {
        return e.file().data(e.tensor()).toArray(ValueLayout.JAVA_BYTE);
    }

    static boolean same(JsonNode a, JsonNode b) {
        if (b == null) return false;
        return a.equals((x, y) -> x.isNumber() && y.isNumber() ? x.decimalValue().compareTo(y.decimalValue()) : x.equals(y) ? 0 : 1, b);
    }
}
