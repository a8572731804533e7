package dev.requant.converter;

import com.fasterxml.jackson.databind.JsonNode;
import dev.requant.formats.FormatException;
import java.nio.file.Path;
import java.util.Map;

/**
 * Integer hyperparameters of one sub-config of config.json (vision_config, audio_config) with transformers' class
 * defaults for the keys a sparse released config leaves out, as AutoConfig fills them in for convert_hf_to_gguf.py.
 */
record ConfigInts(Path file, String section, JsonNode node, Map<String, Number> defaults) {
    int get(String key) throws FormatException {
        JsonNode n = node.get(key);
        if (n == null || n.isNull()) {
            Number d = defaults.get(key);
            if (d == null) throw new FormatException(file, section + "." + key + " is missing");
            return d.intValue();
        }
        if (!n.canConvertToInt() || !n.isIntegralNumber()) throw new FormatException(file, section + "." + key + " is " + n + ", not an integer");
        return n.asInt();
    }

    boolean has(String key) {
        return (node.has(key) && !node.get(key).isNull()) || defaults.containsKey(key);
    }
}
