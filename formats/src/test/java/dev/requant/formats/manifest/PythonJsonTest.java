package dev.requant.formats.manifest;

import static org.assertj.core.api.Assertions.assertThat;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.requant.formats.SharedFiles;
import dev.requant.formats.gguf.GgufArray;
import dev.requant.formats.gguf.GgufValueType;
import java.io.IOException;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

class PythonJsonTest {
    @ParameterizedTest
    @CsvSource({
        "1e-05, 1e-05", "0.0001, 0.0001", "0.00012345, 0.00012345", "1e16, 1e+16", "1e15, 1000000000000000.0",
        "123456789012345.6, 123456789012345.6", "-10000.0, -10000.0", "9.999999974752427e-07, 9.999999974752427e-07",
        "0.5, 0.5", "1.0, 1.0", "100.0, 100.0", "1.5e300, 1.5e+300", "2.5e-5, 2.5e-05", "3.4028234663852886e+38, 3.4028234663852886e+38", "1.401298464324817e-45, 1.401298464324817e-45"
    })
    void reprMatchesPython(double x, String python) {
        assertThat(PythonJson.repr(x)).isEqualTo(python);
    }

    @Test
    void stringsAreEscapedLikeJsonDumps() {
        StringBuilder sb = new StringBuilder();
        PythonJson.appendString(sb, "a\"b\\c\n\u0001▁𝄞\u007f");
        assertThat(sb.toString()).isEqualTo("\"a\\\"b\\\\c\\n\\u0001\\u2581\\ud834\\udd1e\\u007f\"");
    }

    /** The bf16 manifest lists the vocabulary in full; the Q4_0 manifest gives only its hash. Both must agree with ours. */
    @Test
    void arrayHashesMatchTheGoldenManifests() throws IOException {
        ObjectMapper m = new ObjectMapper();
        JsonNode full = m.readTree(SharedFiles.golden("llamacpp/gemma3-tiny.bf16.manifest.json").toFile()).get("kv");
        JsonNode hashed = m.readTree(SharedFiles.golden("llamacpp/gemma3-tiny.pure.Q4_0.manifest.json").toFile()).get("kv");
        JsonNode tokens = full.get("tokenizer.ggml.tokens").get("values");
        String[] t = new String[tokens.size()];
        for (int i = 0; i < t.length; i++) t[i] = tokens.get(i).asText();
        assertThat(GgufManifest.arraySha256(GgufArray.ofStrings(t))).isEqualTo(hashed.get("tokenizer.ggml.tokens").get("sha256").asText());
        JsonNode scores = full.get("tokenizer.ggml.scores").get("values");
        float[] s = new float[scores.size()];
        for (int i = 0; i < s.length; i++) s[i] = (float) scores.get(i).asDouble();
        assertThat(GgufManifest.arraySha256(GgufArray.ofFloat32(s))).isEqualTo(hashed.get("tokenizer.ggml.scores").get("sha256").asText());
        JsonNode types = full.get("tokenizer.ggml.token_type").get("values");
        int[] ty = new int[types.size()];
        for (int i = 0; i < ty.length; i++) ty[i] = types.get(i).asInt();
        assertThat(GgufManifest.arraySha256(new GgufArray(GgufValueType.INT32, ty))).isEqualTo(hashed.get("tokenizer.ggml.token_type").get("sha256").asText());
    }
}
