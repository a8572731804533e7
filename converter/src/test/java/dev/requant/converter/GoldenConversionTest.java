package dev.requant.converter;

import dev.requant.formats.gguf.FileType;
import static org.assertj.core.api.Assertions.assertThat;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.requant.formats.gguf.GgufFile;
import dev.requant.formats.manifest.GgufManifest;
import dev.requant.testmodels.Golden;
import java.io.IOException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Iterator;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** The BF16 conversion of golden/hf/gemma3-tiny is byte-identical to what convert_hf_to_gguf.py wrote. */
class GoldenConversionTest {
    static final ObjectMapper JSON = new ObjectMapper();
    @TempDir Path tmp;

    @Test
    void gemma3TinyBf16IsByteIdenticalToLlamaCpp() throws IOException {
        JsonNode manifest = JSON.readTree(Golden.llamacpp("gemma3-tiny.bf16.manifest.json").toFile());
        Path out = tmp.resolve("gemma3-tiny.bf16.gguf");
        try (ConversionPlan plan = GemmaPlanner.plan(Golden.hf("gemma3-tiny"), new ConversionSettings(FileType.BF16, "Tiny Gemma3"))) {
            GgufConversion.write(plan, out, null);
        }
        try (GgufFile f = GgufFile.open(out)) {
            JsonNode ours = GgufManifest.of(f, true, true);
            assertThat(differences(manifest, ours)).isEmpty();
            assertThat(ours.get("file_size").asLong()).isEqualTo(manifest.get("file_size").asLong());
            assertThat(ours.get("file_sha256").asText()).isEqualTo(manifest.get("file_sha256").asText());
        }
    }

    /** Every key and tensor of the manifest that differs, named. */
    static List<String> differences(JsonNode want, JsonNode got) {
        List<String> d = new ArrayList<>();
        JsonNode wk = want.get("kv"), gk = got.get("kv");
        for (Iterator<Map.Entry<String, JsonNode>> it = wk.properties().iterator(); it.hasNext(); ) {
            var e = it.next();
            JsonNode g = gk.get(e.getKey());
            if (g == null) d.add("missing key " + e.getKey());
            else if (!sameValue(e.getValue(), g)) d.add("key " + e.getKey() + ": want " + abbreviate(e.getValue()) + ", got " + abbreviate(g));
        }
        for (var e : gk.properties()) if (!wk.has(e.getKey())) d.add("extra key " + e.getKey() + " = " + abbreviate(e.getValue()));
        List<String> wantOrder = new ArrayList<>(), gotOrder = new ArrayList<>();
        wk.fieldNames().forEachRemaining(wantOrder::add);
        gk.fieldNames().forEachRemaining(gotOrder::add);
        if (d.isEmpty() && !wantOrder.equals(gotOrder)) d.add("key order differs: want " + wantOrder + ", got " + gotOrder);
        JsonNode wt = want.get("tensors"), gt = got.get("tensors");
        for (int i = 0; i < Math.max(wt.size(), gt.size()); i++) {
            if (i >= wt.size()) { d.add("extra tensor " + gt.get(i).get("name")); continue; }
            if (i >= gt.size()) { d.add("missing tensor " + wt.get(i).get("name")); continue; }
            for (String f : List.of("name", "type", "ne", "offset", "n_bytes", "sha256")) {
                if (wt.get(i).has(f) && !same(wt.get(i).get(f), gt.get(i).get(f))) {
                    d.add("tensor " + i + " " + wt.get(i).get("name").asText() + " " + f + ": want " + wt.get(i).get(f) + ", got " + gt.get(i).get(f));
                }
            }
        }
        return d;
    }

    /** Values compare as the manifest writes them; arrays given as len/sha256/head compare on those. */
    static boolean sameValue(JsonNode want, JsonNode got) {
        if (want.has("sha256") && got.has("values")) return false;
        return same(want, got);
    }

    /** JSON equality with numbers compared by value (the manifest's ints may parse as int or long). */
    static boolean same(JsonNode a, JsonNode b) {
        if (b == null) return false;
        return a.equals((x, y) -> x.isNumber() && y.isNumber() ? x.decimalValue().compareTo(y.decimalValue()) : x.equals(y) ? 0 : 1, b);
    }

    static String abbreviate(JsonNode n) {
        String s = n.toString();
        return s.length() > 300 ? s.substring(0, 300) + "..." : s;
    }
}
