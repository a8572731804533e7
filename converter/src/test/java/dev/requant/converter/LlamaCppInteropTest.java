package dev.requant.converter;

import dev.requant.formats.gguf.FileType;
import static org.assertj.core.api.Assertions.assertThat;

import com.fasterxml.jackson.databind.JsonNode;
import dev.requant.formats.gguf.GgufFile;
import dev.requant.formats.tokenizer.Tokenizer;
import dev.requant.testmodels.Golden;
import dev.requant.llamacpp.LlamaCppEngine;
import dev.requant.testmodels.LlamaCppProbe;
import dev.requant.testmodels.NpyArray;
import dev.requant.testmodels.ProbabilityComparison;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.EnumMap;
import java.util.Map;
import java.util.stream.Stream;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;

/**
 * The real llama.cpp (node-llama-cpp) loads and runs what requant writes: next-token probabilities on the golden
 * input ids compared with transformers' float32 logits, and tokenization of the calibration text compared with
 * requant's own encoders.
 */
class LlamaCppInteropTest {
    static final String[] MODELS = {"gemma3-tiny", "gemma4-tiny", "gemma4-unified-tiny"};
    /**
     * Regression bounds for the lossy types, set above what was measured (BENCHMARKS.md, "Conversion"): the tiny
     * models have random weights, so their next-token distributions are nearly flat and top-1 flips on near ties.
     */
    static final Map<FileType, double[]> BOUNDS = new EnumMap<>(Map.of(
            FileType.F32, new double[] {1.0, 1e-4},
            FileType.BF16, new double[] {0.90, 1e-4},
            FileType.Q8_0, new double[] {0.85, 5e-4}));

    @TempDir static Path tmp;
    static int[] ids;

    @BeforeAll
    static void readIds() throws IOException {
        JsonNode in = GoldenConversionTest.JSON.readTree(Golden.hf("logits-input.json").toFile()).get("input_ids");
        ids = new int[in.size()];
        for (int i = 0; i < ids.length; i++) ids[i] = in.get(i).asInt();
    }

    static Path convert(String model, FileType type) throws IOException {
        Path out = tmp.resolve(model + "." + type.cliName() + ".gguf");
        if (Files.exists(out)) return out;
        try (ConversionPlan plan = GemmaPlanner.plan(Golden.hf(model), ConversionSettings.of(type))) {
            GgufConversion.write(plan, out, null);
        }
        return out;
    }

    static Stream<Arguments> modelsAndTypes() {
        return Stream.of(MODELS).flatMap(m -> Stream.of(FileType.F32, FileType.BF16, FileType.Q8_0).map(t -> Arguments.of(m, t)));
    }

    @ParameterizedTest(name = "{0} {1}")
    @MethodSource("modelsAndTypes")
    void nextTokenProbabilitiesMatchTransformers(String model, FileType type) throws IOException {
        LlamaCppEngine probe = LlamaCppProbe.forTests();
        Path gguf = convert(model, type);
        float[][] ref = NpyArray.read(Golden.hf(model + ".logits.npy")).rows();
        float[][] got = probe.logits(gguf, ids);
        ProbabilityComparison c = ProbabilityComparison.of(ref, got);
        System.out.printf("interop %s %s: %s%n", model, type.cliName(), c);
        double[] bound = BOUNDS.get(type);
        assertThat(c.top1Agreement()).as(model + " " + type + " top-1 agreement").isGreaterThanOrEqualTo(bound[0]);
        assertThat(c.maxAbsProbDiff()).as(model + " " + type + " max |dp|").isLessThanOrEqualTo(bound[1]);
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("models")
    void ourTokenizerMatchesLlamaCppOnTheCalibrationText(String model) throws IOException {
        LlamaCppEngine probe = LlamaCppProbe.forTests();
        Path gguf = convert(model, FileType.BF16);
        String text = Files.readString(Golden.text("calibration.txt"));
        Tokenizer ours;
        try (GgufFile f = GgufFile.open(gguf)) {
            ours = Tokenizer.fromMetadata(f.metadata());
        }
        for (boolean special : new boolean[] {false, true}) {
            int[] want = probe.tokenize(gguf, text, special);
            int[] got = ours.encode(text, false, special);
            assertThat(want.length).as("llama.cpp token count").isGreaterThan(text.length() / 20);
            int first = Arrays.mismatch(want, got);
            assertThat(first).as(model + " parse_special=" + special + ": first differing position (" + context(want, got, first) + ")").isEqualTo(-1);
        }
    }

    static Stream<String> models() {
        return Stream.of(MODELS);
    }

    @Test
    void llamaCppSeesTheArchitecturesWeWrote() throws IOException {
        LlamaCppEngine probe = LlamaCppProbe.forTests();
        for (String m : MODELS) {
            JsonNode info = probe.info(convert(m, FileType.BF16));
            assertThat(info.get("architecture").asText()).isEqualTo(m.startsWith("gemma3") ? "gemma3" : "gemma4");
            assertThat(info.get("tokens").get("bos").asInt()).isEqualTo(2);
            assertThat(info.get("tokens").get("eos").asInt()).isEqualTo(1);
        }
    }

    private static String context(int[] want, int[] got, int at) {
        if (at < 0) return "none";
        int from = Math.max(0, at - 3);
        return "llama.cpp " + Arrays.toString(Arrays.copyOfRange(want, from, Math.min(want.length, at + 4)))
                + " vs ours " + Arrays.toString(Arrays.copyOfRange(got, from, Math.min(got.length, at + 4)));
    }
}
