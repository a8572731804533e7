package dev.requant.converter.quantize;

import dev.requant.formats.gguf.FileType;
import static org.assertj.core.api.Assertions.assertThat;

import com.fasterxml.jackson.databind.JsonNode;
import dev.requant.formats.ggml.GgmlType;
import dev.requant.formats.gguf.GgufFile;
import dev.requant.formats.gguf.GgufKeys;
import dev.requant.formats.gguf.GgufShards;
import dev.requant.formats.imatrix.ImatrixImportance;
import dev.requant.formats.manifest.GgufManifest;
import dev.requant.testmodels.Golden;
import dev.requant.testmodels.LlamaCppQuantizer;
import java.io.IOException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.function.UnaryOperator;
import java.util.stream.Stream;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;

/**
 * requant quantize against the real llama.cpp (llama_model_quantize of node-llama-cpp's libllama, v0.5.0) on models
 * the golden manifests do not cover: every file type, with and without an imatrix, on synthetic llama models whose
 * shapes trigger the layer-position rules (use_more_bits, first 1/8, first 4 attn_v), the row-size fallbacks, tied
 * embeddings and the 8-expert rules; and the options (--leave-output-tensor, --output-tensor-type,
 * --token-embedding-type, --tensor-type, --pure, --allow-requantize). The whole output file must be identical.
 */
class LlamaCppQuantizeInteropTest {
    @TempDir static Path tmp;
    static LlamaCppQuantizer llama;
    static Path narrow, wide, moe, gemma;

    @BeforeAll
    static void models() throws IOException {
        llama = LlamaCppQuantizer.forTests();
        narrow = SyntheticLlama.narrow16().write(tmp);
        wide = SyntheticLlama.wide8().write(tmp);
        moe = SyntheticLlama.moe8().write(tmp);
        gemma = tmp.resolve("gemma3-tiny.bf16.gguf");
        try (var plan = dev.requant.converter.GemmaPlanner.plan(Golden.hf("gemma3-tiny"),
                new dev.requant.converter.ConversionSettings(FileType.BF16, "Tiny Gemma3"))) {
            dev.requant.converter.GgufConversion.write(plan, gemma, null);
        }
    }

    /** The file types of issue 15 (every llama-quantize type requant did not make before). */
    static final List<FileType> NEW_TYPES = List.of(FileType.Q1_0, FileType.Q2_0, FileType.Q2_K, FileType.Q2_K_S, FileType.Q3_K_S,
            FileType.Q3_K_M, FileType.Q3_K_L, FileType.IQ1_S, FileType.IQ1_M, FileType.IQ2_XXS, FileType.IQ2_XS, FileType.IQ2_S,
            FileType.IQ2_M, FileType.IQ3_XXS, FileType.IQ3_XS, FileType.IQ3_S, FileType.IQ3_M, FileType.IQ4_NL, FileType.IQ4_XS,
            FileType.TQ1_0, FileType.TQ2_0);

    static Stream<Arguments> fileTypes() {
        List<Arguments> a = new ArrayList<>();
        for (FileType t : FileType.values()) {
            if (!t.producible()) continue; // every type the table calls producible must match libllama byte for byte
            a.add(Arguments.of("narrow16", t, false));
            a.add(Arguments.of("narrow16", t, true));
        }
        for (FileType t : List.of(FileType.Q4_0, FileType.Q5_0, FileType.Q4_K_S, FileType.Q4_K_M,
                FileType.Q5_K_M, FileType.Q6_K)) {
            a.add(Arguments.of("wide8", t, false));
            a.add(Arguments.of("wide8", t, true));
        }
        for (FileType t : NEW_TYPES) {
            for (boolean imatrix : new boolean[] {false, true}) {
                a.add(Arguments.of("wide8", t, imatrix));
                a.add(Arguments.of("moe8", t, imatrix));
            }
        }
        for (FileType t : List.of(FileType.Q4_K_M, FileType.MXFP4_MOE, FileType.Q5_K_S)) a.add(Arguments.of("moe8", t, false));
        a.add(Arguments.of("moe8", FileType.Q4_0, true));
        for (FileType t : List.of(FileType.Q4_K_S, FileType.Q4_K_M, FileType.Q5_K_M, FileType.Q5_0,
                FileType.Q5_1, FileType.MXFP4_MOE)) {
            a.add(Arguments.of("gemma3-tiny", t, true));
        }
        return a.stream();
    }

    @ParameterizedTest(name = "{0} {1} imatrix={2}")
    @MethodSource("fileTypes")
    void sameFileAsLlamaCpp(String model, FileType type, boolean withImatrix) throws IOException {
        Path in = switch (model) {
            case "narrow16" -> narrow;
            case "wide8" -> wide;
            case "moe8" -> moe;
            default -> gemma;
        };
        QuantizeSettings s = QuantizeSettings.of(type).withThreads(2);
        if (withImatrix) {
            ImatrixImportance im = model.equals("gemma3-tiny")
                    ? ImatrixInput.load(Golden.llamacpp("gemma3-tiny.imatrix.gguf"), dev.requant.formats.imatrix.ImatrixFilter.ALL).importance()
                    : synthetic(model).importance(11);
            s = s.withImatrix(new ImatrixInput("calib/" + model + ".imatrix.gguf", im));
        }
        assertSame(in, s, model + "." + type + (withImatrix ? ".imat" : ""));
    }

    static SyntheticLlama synthetic(String model) {
        return switch (model) {
            case "narrow16" -> SyntheticLlama.narrow16();
            case "wide8" -> SyntheticLlama.wide8();
            default -> SyntheticLlama.moe8();
        };
    }

    static Stream<Arguments> options() {
        List<Arguments> a = new ArrayList<>();
        a.add(Arguments.of("leave-output-tensor", FileType.Q4_K_M, (UnaryOperator<QuantizeSettings>) s -> s.withLeaveOutputTensor(true)));
        a.add(Arguments.of("output+token-embedding types", FileType.Q4_K_S, (UnaryOperator<QuantizeSettings>) s ->
                s.withOutputTensorType(GgmlType.Q8_0).withTokenEmbeddingType(GgmlType.Q5_1)));
        a.add(Arguments.of("tensor-type", FileType.Q5_K_M, (UnaryOperator<QuantizeSettings>) s -> s.withTensorTypes(List.of(
                TensorTypeOverride.parse("attn_v=q8_0"), TensorTypeOverride.parse("BLK\\.1[0-9]\\.ffn=Q6_K"),
                TensorTypeOverride.parse("ffn_down=q4_0")))));
        a.add(Arguments.of("pure", FileType.Q5_K_S, (UnaryOperator<QuantizeSettings>) s -> s.withPure(true)));
        a.add(Arguments.of("pure + tensor-type", FileType.Q4_1, (UnaryOperator<QuantizeSettings>) s -> s.withPure(true)
                .withTensorTypes(List.of(TensorTypeOverride.parse("output=f16")))));
        // --override-kv: written at the end in order (int as u32 of |v|), and read by the type rules: 8 heads over
        // 1 KV head is n_gqa 8 (Q2_K's attn_v becomes q4_K), 20 blocks move use_more_bits
        a.add(Arguments.of("override-kv", FileType.Q2_K, (UnaryOperator<QuantizeSettings>) s -> s.withKvOverrides(List.of(
                KvOverride.parse("general.name=str:overridden name"), KvOverride.parse("requant.test.neg=int:-5"),
                KvOverride.parse("requant.test.f=float:0.1"), KvOverride.parse("requant.test.b=bool:true"),
                KvOverride.parse("llama.attention.head_count=int:8"), KvOverride.parse("general.name=str:second wins in the file")))));
        a.add(Arguments.of("override-kv block count", FileType.Q4_K_M, (UnaryOperator<QuantizeSettings>) s -> s.withKvOverrides(List.of(
                KvOverride.parse("llama.block_count=int:20")))));
        // --prune-layers: blocks dropped and renumbered, block_count rewritten, the imatrix still found under the old names
        a.add(Arguments.of("prune-layers", FileType.Q4_K_M, (UnaryOperator<QuantizeSettings>) s -> s.withPruneLayers(List.of(15, 0, 5, 6, 5))
                .withImatrix(new ImatrixInput("calib/narrow16.imatrix.gguf", SyntheticLlama.narrow16().importance(5)))));
        a.add(Arguments.of("prune-layers IQ2_XS", FileType.IQ2_XS, (UnaryOperator<QuantizeSettings>) s -> s.withPruneLayers(List.of(3, 40))
                .withImatrix(new ImatrixInput("calib/narrow16.imatrix.gguf", SyntheticLlama.narrow16().importance(5)))));
        return a.stream();
    }

    @Test
    void pruningExpertLayersMatchesLlamaCpp() throws IOException {
        assertSame(moe, QuantizeSettings.of(FileType.Q4_K_M).withThreads(2).withPruneLayers(List.of(1, 2)), "moe8.prune");
    }

    /** A split input (4 shards of 40 tensors, as llama-gguf-split writes them): one output, or one per shard with --keep-split. */
    @ParameterizedTest(name = "keep-split {0}")
    @org.junit.jupiter.params.provider.ValueSource(booleans = {false, true})
    void splitInputMatchesLlamaCpp(boolean keepSplit) throws IOException {
        Path dir = java.nio.file.Files.createDirectories(tmp.resolve("split-" + keepSplit));
        List<Path> shards = dev.requant.testmodels.SplitGguf.split(narrow, dir.resolve("narrow16").toString(), 40);
        assertThat(shards).hasSize(4);
        QuantizeSettings s = QuantizeSettings.of(FileType.Q4_K_M).withThreads(2).withKeepSplit(keepSplit)
                .withImatrix(new ImatrixInput("calib/narrow16.imatrix.gguf", SyntheticLlama.narrow16().importance(5)));
        assertSame(shards.getFirst(), s, "narrow16.split-" + keepSplit);
        if (!keepSplit) {
            // the same file as from the unsplit input
            Path whole = tmp.resolve("narrow16.unsplit.gguf");
            try (GgufFile f = GgufFile.open(narrow)) {
                GgufQuantizer.write(QuantizePlanner.plan(f, s), whole, GgufQuantizer.Progress.NONE);
            }
            try (GgufFile a = GgufFile.open(whole); GgufFile b = GgufFile.open(tmp.resolve("narrow16.split-false.requant.gguf"))) {
                assertThat(GgufManifest.sha256(b.mapping())).isEqualTo(GgufManifest.sha256(a.mapping()));
            }
        }
    }

    @ParameterizedTest(name = "{0} {1}")
    @MethodSource("options")
    void optionsMatchLlamaCpp(String what, FileType type, UnaryOperator<QuantizeSettings> options) throws IOException {
        assertSame(narrow, options.apply(QuantizeSettings.of(type).withThreads(2)), "narrow16." + what.replaceAll("[^a-z0-9]+", "-"));
    }

    @Test
    void requantizeMatchesLlamaCpp() throws IOException {
        Path q8 = tmp.resolve("narrow16.q8_0.gguf");
        try (GgufFile in = GgufFile.open(narrow)) {
            GgufQuantizer.write(QuantizePlanner.plan(in, QuantizeSettings.of(FileType.Q8_0).withThreads(2)), q8, GgufQuantizer.Progress.NONE);
        }
        assertSame(q8, QuantizeSettings.of(FileType.Q4_K_M).withThreads(2).withAllowRequantize(true), "narrow16.requant");
    }

    /**
     * Quantizes {@code in} with both and compares the manifests (keys, tensors, file hash). Where llama.cpp refuses
     * (a type that needs an imatrix and none was given; Q1_0 on rows its block does not divide), requant must refuse
     * too, before writing anything, and the other way round.
     */
    static void assertSame(Path in, QuantizeSettings s, String label) throws IOException {
        Path ours = tmp.resolve(label + ".requant.gguf");
        Path theirs = tmp.resolve(label + ".llama.gguf");
        // with --keep-split llama_model_quantize takes the prefix of the shard names (llama-quantize strips ".gguf")
        Path theirsArg = s.keepSplit() ? tmp.resolve(label + ".llama") : theirs;
        int status = llama.quantize(in, theirsArg, params(s));
        String refusal;
        List<Path> oursFiles = List.of(ours), theirsFiles = List.of(theirs);
        try (GgufShards f = GgufShards.open(in)) {
            QuantizePlan plan = QuantizePlanner.plan(f, s);
            refusal = plan.refusal().orElse(null);
            if (refusal == null) GgufQuantizer.write(plan, ours, GgufQuantizer.Progress.NONE);
            if (s.keepSplit()) {
                oursFiles = plan.outputShards(ours).stream().map(QuantizePlan.OutputShard::path).toList();
                theirsFiles = plan.outputShards(theirsArg).stream().map(QuantizePlan.OutputShard::path).toList();
            }
        } catch (QuantizeException e) {
            refusal = e.getMessage(); // the type rules themselves failed (no fallback for a row length)
        }
        if (status != 0) {
            assertThat(refusal).as(label + ": llama.cpp refused, requant must too").isNotNull();
            assertThat(java.nio.file.Files.exists(ours)).isFalse();
            assertThat(refusal).as(label).containsAnyOf("needs an importance matrix", "no tensor type fallback");
            return;
        }
        assertThat(refusal).as(label + ": llama.cpp quantized it").isNull();
        for (int i = 0; i < oursFiles.size(); i++) {
            try (GgufFile a = GgufFile.open(theirsFiles.get(i)); GgufFile b = GgufFile.open(oursFiles.get(i))) {
                JsonNode want = GgufManifest.of(a, true, false), got = GgufManifest.of(b, true, false);
                assertThat(ManifestDiff.of(want, got)).as(label + " " + oursFiles.get(i).getFileName()).isEmpty();
            }
        }
    }

    /** What llama-quantize's main() passes for these settings (quantize.cpp), imatrix keys as KV overrides. */
    static LlamaCppQuantizer.Params params(QuantizeSettings s) {
        Map<String, float[]> im = new LinkedHashMap<>();
        List<Map.Entry<String, Object>> kv = new ArrayList<>();
        for (KvOverride o : s.kvOverrides()) kv.add(Map.entry(o.key(), o.value()));
        if (s.hasImatrix()) {
            im.putAll(s.imatrix().importance().values());
            kv.add(Map.entry(GgufKeys.Quantize.IMATRIX_FILE, s.imatrix().fileAsGiven()));
            if (!s.imatrix().importance().datasets().isEmpty()) kv.add(Map.entry(GgufKeys.Quantize.IMATRIX_DATASET, s.imatrix().importance().datasets().getFirst()));
            kv.add(Map.entry(GgufKeys.Quantize.IMATRIX_ENTRIES_COUNT, (long) s.imatrix().importance().size()));
            if (s.imatrix().importance().chunkCount() > 0) kv.add(Map.entry(GgufKeys.Quantize.IMATRIX_CHUNKS_COUNT, (long) s.imatrix().importance().chunkCount()));
        }
        List<Map.Entry<String, Integer>> tt = s.tensorTypes().stream().map(o -> Map.entry(o.pattern(), o.type().id())).toList();
        return new LlamaCppQuantizer.Params(s.fileType().id(), s.threads(), s.pure(), s.quantizeOutputTensor(),
                s.outputTensorType() == null ? LlamaCppQuantizer.TYPE_UNSET : s.outputTensorType().id(),
                s.tokenEmbeddingType() == null ? LlamaCppQuantizer.TYPE_UNSET : s.tokenEmbeddingType().id(),
                s.allowRequantize(), tt, im, kv, false, s.keepSplit(), s.pruneLayers());
    }
}
