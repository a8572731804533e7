package dev.requant.converter.export;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import com.fasterxml.jackson.dataformat.yaml.YAMLFactory;
import com.fasterxml.jackson.dataformat.yaml.YAMLGenerator;
import dev.requant.formats.gguf.GgufArray;
import dev.requant.formats.gguf.GgufMetadata;
import dev.requant.formats.gguf.GgufValue;
import dev.requant.formats.gguf.GgufValueType;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.util.List;
import java.util.Map;

/**
 * The general.* keys of a GGUF as the places gguf-py's {@code Metadata.load} finds them in a Hugging Face folder
 * (ModelNaming reads them the same way): a README.md model card whose YAML front matter holds the authorship keys,
 * and generation_config.json's sampling values. The naming keys the GGUF does not have are written as empty
 * strings, which stops the heuristics on the folder name from inventing them, so converting the folder back gives
 * the same keys.
 */
final class ModelCard {
    private static final ObjectMapper YAML = new ObjectMapper(new YAMLFactory().disable(YAMLGenerator.Feature.WRITE_DOC_START_MARKER));

    /** GGUF key to model card key (metadata.py's reading of the card, inverted). */
    private static final Map<String, String> CARD_KEYS = orderedMap(
            "general.name", "name", "general.author", "author", "general.version", "version",
            "general.organization", "organization", "general.finetune", "finetune", "general.basename", "basename",
            "general.description", "description", "general.size_label", "size_label",
            "general.license", "license", "general.license.name", "license_name", "general.license.link", "license_link",
            "general.source.url", "url", "general.source.doi", "doi", "general.source.uuid", "uuid",
            "general.source.repo_url", "repo_url");
    /** The naming keys the folder-name heuristics would fill in when absent. */
    private static final List<String> HEURISTIC = List.of("name", "organization", "basename", "finetune", "version", "size_label");
    /** general.sampling.* to generation_config.json. */
    private static final Map<String, String> SAMPLING = orderedMap(
            "general.sampling.sequence", "sequence", "general.sampling.top_k", "top_k", "general.sampling.top_p", "top_p",
            "general.sampling.min_p", "min_p", "general.sampling.xtc_probability", "xtc_probability",
            "general.sampling.xtc_threshold", "xtc_threshold", "general.sampling.temp", "temperature",
            "general.sampling.penalty_last_n", "penalty_last_n", "general.sampling.penalty_repeat", "penalty_repeat",
            "general.sampling.mirostat", "mirostat", "general.sampling.mirostat_tau", "mirostat_tau",
            "general.sampling.mirostat_eta", "mirostat_eta");
    private static final List<String> REFERENCE_FIELDS = List.of("name", "author", "version", "organization", "description", "url", "doi", "uuid", "repo_url");

    private ModelCard() {}

    /** README.md: the front matter, then a line saying where the folder came from. */
    static byte[] readme(GgufMetadata md, String ggufFileName) {
        ObjectNode card = YAML.createObjectNode();
        for (var e : CARD_KEYS.entrySet()) {
            String v = md.getString(e.getKey()).orElse(null);
            if (v != null) card.put(e.getValue(), v);
            else if (HEURISTIC.contains(e.getValue())) card.put(e.getValue(), "");
        }
        references(md, "general.base_model", card, "base_model");
        references(md, "general.dataset", card, "datasets");
        strings(md, "general.tags", card, "tags");
        strings(md, "general.languages", card, "language");
        String yaml;
        try {
            yaml = YAML.writeValueAsString(card);
        } catch (IOException e) {
            throw new IllegalStateException(e);
        }
        String text = "---\n" + yaml + (yaml.endsWith("\n") ? "" : "\n") + "---\n\n"
                + "Exported from " + ggufFileName + " by requant export (the GGUF's general.* keys are in the front matter above).\n";
        return text.getBytes(StandardCharsets.UTF_8);
    }

    /** The sampling values of generation_config.json (added to the token ids the caller puts there). */
    static void sampling(GgufMetadata md, ObjectNode gen) {
        for (var e : SAMPLING.entrySet()) {
            GgufValue v = md.get(e.getKey()).orElse(null);
            if (v == null) continue;
            if (v.type() == GgufValueType.STRING) gen.put(e.getValue(), v.asString());
            else if (v.type().isInteger()) gen.put(e.getValue(), v.asLong());
            else if (v.type() == GgufValueType.FLOAT32 || v.type() == GgufValueType.FLOAT64) gen.put(e.getValue(), GgufKeys.shortest(v.asFloat()));
        }
    }

    private static void references(GgufMetadata md, String prefix, ObjectNode card, String key) {
        long count = md.getLong(prefix + ".count").orElse(-1L);
        if (count < 0) return;
        ArrayNode list = card.putArray(key);
        for (int i = 0; i < count; i++) {
            ObjectNode o = list.addObject();
            for (String f : REFERENCE_FIELDS) {
                String v = md.getString(prefix + "." + i + "." + f).orElse(null);
                if (v != null) o.put(f, v);
            }
        }
    }

    private static void strings(GgufMetadata md, String gguf, ObjectNode card, String key) {
        GgufArray a = md.getArray(gguf).orElse(null);
        if (a == null || a.elementType() != GgufValueType.STRING) return;
        ArrayNode list = card.putArray(key);
        for (String s : a.strings()) list.add(s);
    }

    private static Map<String, String> orderedMap(String... kv) {
        Map<String, String> m = new java.util.LinkedHashMap<>();
        for (int i = 0; i < kv.length; i += 2) m.put(kv[i], kv[i + 1]);
        return java.util.Collections.unmodifiableMap(m);
    }
}
