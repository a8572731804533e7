package dev.requant.converter;

import dev.requant.formats.gguf.FileType;
import static org.assertj.core.api.Assertions.assertThat;

import com.fasterxml.jackson.databind.JsonNode;
import dev.requant.formats.gguf.GgufFile;
import dev.requant.formats.gguf.GgufTensorInfo;
import dev.requant.formats.manifest.GgufManifest;
import dev.requant.testmodels.Golden;
import java.io.IOException;
import java.nio.file.Path;
import java.util.HashMap;
import java.util.Map;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;
import org.junit.jupiter.api.io.TempDir;

/**
 * --type q8_0 / q4_0 quantize every 2-D weight from the BF16 values with the reference codecs, which is what
 * llama-quantize --pure does to the BF16 GGUF: every tensor of ours has the golden tensor's bytes.
 */
class QuantizedTypesTest {
    @TempDir Path tmp;

    @ParameterizedTest
    @CsvSource({"q8_0, gemma3-tiny.pure.Q8_0.manifest.json", "q4_0, gemma3-tiny.pure.Q4_0.manifest.json"})
    void tensorsMatchLlamaQuantizePure(String type, String manifestName) throws IOException {
        JsonNode manifest = GoldenConversionTest.JSON.readTree(Golden.llamacpp(manifestName).toFile());
        Map<String, JsonNode> want = new HashMap<>();
        for (JsonNode t : manifest.get("tensors")) want.put(t.get("name").asText(), t);
        Path out = tmp.resolve(type + ".gguf");
        try (ConversionPlan plan = GemmaPlanner.plan(Golden.hf("gemma3-tiny"), ConversionSettings.of(FileType.parse(type).orElseThrow()))) {
            GgufConversion.write(plan, out, null);
        }
        try (GgufFile f = GgufFile.open(out)) {
            assertThat(f.tensors()).hasSize(want.size());
            for (GgufTensorInfo t : f.tensors()) {
                JsonNode w = want.get(t.name());
                assertThat(w).as(t.name()).isNotNull();
                assertThat(t.type().name()).as(t.name()).isEqualTo(w.get("type").asText());
                assertThat(GgufManifest.sha256(f.tensorData(t))).as(t.name()).isEqualTo(w.get("sha256").asText());
            }
            assertThat(f.metadata().getLong("general.file_type")).contains(manifest.get("kv").get("general.file_type").get("value").asLong());
        }
    }
}
