package dev.requant.converter.quantize;

import static org.assertj.core.api.Assertions.assertThat;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.requant.converter.ConversionPlan;
import dev.requant.converter.ConversionSettings;
import dev.requant.converter.GemmaPlanner;
import dev.requant.converter.GgufConversion;
import dev.requant.formats.gguf.FileType;
import dev.requant.formats.gguf.GgufFile;
import dev.requant.formats.imatrix.ImatrixFilter;
import dev.requant.formats.manifest.GgufManifest;
import dev.requant.testmodels.Golden;
import java.io.IOException;
import java.nio.file.Path;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * Whole-file parity with llama-quantize: the BF16 conversion of golden/hf/gemma3-tiny (byte-identical to
 * convert_hf_to_gguf.py's) quantized by requant reproduces every golden manifest of
 * golden/llamacpp/gemma3-tiny.{pure,mix,imat-pure,imat-mix}.TYPE: every key with its type, value and position,
 * every tensor's name, type, dims, offset, size and SHA-256, and the SHA-256 of the whole file.
 */
class LlamaQuantizeParityTest {
    static final ObjectMapper JSON = new ObjectMapper();
    static final String IMATRIX = "gemma3-tiny.imatrix.gguf";

    @TempDir static Path tmp;
    static Path bf16;

    @BeforeAll
    static void convert() throws IOException {
        bf16 = tmp.resolve("gemma3-tiny.bf16.gguf");
        try (ConversionPlan plan = GemmaPlanner.plan(Golden.hf("gemma3-tiny"), new ConversionSettings(FileType.BF16, "Tiny Gemma3"))) {
            GgufConversion.write(plan, bf16, null);
        }
        try (GgufFile f = GgufFile.open(bf16)) {
            JsonNode golden = JSON.readTree(Golden.llamacpp("gemma3-tiny.bf16.manifest.json").toFile());
            assertThat(GgufManifest.sha256(f.mapping())).as("BF16 input").isEqualTo(golden.get("file_sha256").asText());
        }
    }

    /** The settings llama-quantize ran with for a golden manifest "MODE.TYPE" (README of golden/llamacpp). */
    static QuantizeSettings settingsFor(String manifest) throws IOException {
        String mode = manifest.substring(0, manifest.indexOf('.'));
        String type = manifest.substring(manifest.indexOf('.') + 1);
        QuantizeSettings s = QuantizeSettings.of(FileType.parse(type).orElseThrow()).withThreads(2);
        if (mode.endsWith("pure")) s = s.withPure(true);
        if (mode.startsWith("imat-")) {
            // llama-quantize ran in golden/llamacpp with "--imatrix gemma3-tiny.imatrix.gguf": the name as given is recorded.
            s = s.withImatrix(ImatrixInput.load(Golden.llamacpp(IMATRIX), IMATRIX, ImatrixFilter.ALL));
        }
        return s;
    }

    @ParameterizedTest
    @ValueSource(strings = {"pure.Q8_0", "pure.Q4_0", "pure.Q4_1", "pure.Q4_K", "pure.Q6_K", "pure.MXFP4_MOE",
            "mix.Q4_0", "mix.Q8_0", "imat-pure.Q4_0", "imat-pure.Q4_1", "imat-pure.Q4_K", "imat-pure.Q6_K", "imat-mix.Q4_0"})
    void reproducesLlamaQuantizeFileExactly(String manifest) throws IOException {
        JsonNode golden = JSON.readTree(Golden.llamacpp("gemma3-tiny." + manifest + ".manifest.json").toFile());
        Path out = tmp.resolve(manifest + ".gguf");
        try (GgufFile in = GgufFile.open(bf16)) {
            QuantizePlan plan = QuantizePlanner.plan(in, settingsFor(manifest));
            GgufQuantizer.write(plan, out, GgufQuantizer.Progress.NONE);
        }
        try (GgufFile f = GgufFile.open(out)) {
            JsonNode ours = GgufManifest.of(f, true, false);
            assertThat(ManifestDiff.of(golden, ours)).as(manifest).isEmpty();
            assertThat(ours.get("file_sha256").asText()).isEqualTo(golden.get("file_sha256").asText());
        }
    }

    @Test
    void outputDoesNotDependOnThreadCount() throws IOException {
        String[] sha = new String[2];
        int[] threads = {1, 3};
        for (int i = 0; i < 2; i++) {
            Path out = tmp.resolve("threads" + threads[i] + ".gguf");
            try (GgufFile in = GgufFile.open(bf16)) {
                GgufQuantizer.write(QuantizePlanner.plan(in, settingsFor("imat-mix.Q4_0").withThreads(threads[i])), out, GgufQuantizer.Progress.NONE);
            }
            try (GgufFile f = GgufFile.open(out)) {
                sha[i] = GgufManifest.sha256(f.mapping());
            }
        }
        JsonNode golden = JSON.readTree(Golden.llamacpp("gemma3-tiny.imat-mix.Q4_0.manifest.json").toFile());
        assertThat(sha).containsOnly(golden.get("file_sha256").asText());
    }
}
