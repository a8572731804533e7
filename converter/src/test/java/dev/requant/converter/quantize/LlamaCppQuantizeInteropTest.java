package dev.requant.converter.quantize;

import dev.requant.formats.gguf.FileType;
import static org.assertj.core.api.Assertions.assertThat;

import com.fasterxml.jackson.databind.JsonNode;
import dev.requant.formats.ggml.GgmlType;
import dev.requant.formats.gguf.GgufFile;
import dev.requant.formats.gguf.GgufKeys;
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
        return a.stream();
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

    /** Quantizes {@code in} with both and compares the manifests (keys, tensors, file hash). */
    static void assertSame(Path in, QuantizeSettings s, String label) throws IOException {
        Path ours = tmp.resolve(label + ".requant.gguf");
        Path theirs = tmp.resolve(label + ".llama.gguf");
        try (GgufFile f = GgufFile.open(in)) {
            GgufQuantizer.write(QuantizePlanner.plan(f, s), ours, GgufQuantizer.Progress.NONE);
        }
        assertThat(llama.quantize(in, theirs, params(s))).as("llama_model_quantize status").isZero();
        try (GgufFile a = GgufFile.open(theirs); GgufFile b = GgufFile.open(ours)) {
            JsonNode want = GgufManifest.of(a, true, false), got = GgufManifest.of(b, true, false);
            assertThat(ManifestDiff.of(want, got)).as(label).isEmpty();
        }
    }

    /** What llama-quantize's main() passes for these settings (quantize.cpp), imatrix keys as KV overrides. */
    static LlamaCppQuantizer.Params params(QuantizeSettings s) {
        Map<String, float[]> im = new LinkedHashMap<>();
        List<Map.Entry<String, Object>> kv = new ArrayList<>();
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
                s.allowRequantize(), tt, im, kv, false);
    }
}
