package dev.requant.formats.nvfp4;

import com.fasterxml.jackson.databind.JsonNode;
import dev.requant.formats.io.JsonFile;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.regex.Pattern;

/**
 * The quantization a Hugging Face folder declares, read the way convert_hf_to_gguf.py's prepare_tensors reads it
 * (gemma-conversion.md §7.1): {@code quantization_config} of config.json (root, else text_config), completed from the
 * legacy ModelOpt {@code hf_quant_config.json} when {@code quant_algo} or {@code quantized_layers} is missing there.
 *
 * @param source the file the decisive keys came from
 * @param method quant_method ("modelopt", "compressed-tensors", ...; the producer name of hf_quant_config.json when
 *     absent), or null
 * @param algo quant_algo ("NVFP4", "W4A16_NVFP4", "MIXED_PRECISION", "FP8"...), or null
 * @param format compressed-tensors format ("nvfp4-pack-quantized", "mixed-precision"...), or null
 * @param groupFormats the format of each compressed-tensors config group
 * @param layerAlgos ModelOpt MIXED_PRECISION's per-layer quant_algo
 * @param excluded ModelOpt exclude_modules / ignore, compressed-tensors ignore: module patterns left unquantized
 * @param weightBlock the FP8 weight tile {@code [rows, cols]} (quant_method "fp8" {@code weight_block_size},
 *     compressed-tensors {@code weights.block_structure}), or null
 */
public record QuantizationConfig(Path source, String method, String algo, String format, Map<String, String> groupFormats,
        Map<String, String> layerAlgos, List<String> excluded, int[] weightBlock) {
    public static final String HF_QUANT_CONFIG = "hf_quant_config.json";

    /** What a folder holds, as far as this project is concerned. */
    public enum Kind {
        /** No quantization_config: a float checkpoint. */
        NONE,
        /** ModelOpt NVFP4 (NVFP4, W4A16_NVFP4, or MIXED_PRECISION with NVFP4 layers; FP8 layers may sit beside). */
        MODELOPT_NVFP4,
        /** compressed-tensors nvfp4-pack-quantized (also "mixed-precision" whose every group is NVFP4). */
        COMPRESSED_TENSORS_NVFP4,
        /** Another quantization (FP8 only, GPTQ, MXFP4...): not NVFP4. */
        OTHER
    }

    public static final QuantizationConfig NONE = new QuantizationConfig(null, null, null, null, Map.of(), Map.of(), List.of(), null);

    /** Reads the folder's declaration (NONE when there is none). */
    public static QuantizationConfig read(Path dir) throws IOException {
        Path configFile = dir.resolve("config.json");
        JsonNode qc = null;
        Path source = null;
        if (Files.isRegularFile(configFile)) {
            JsonNode root = JsonFile.read(configFile);
            qc = root.path("quantization_config");
            if (!qc.isObject()) qc = root.path("text_config").path("quantization_config");
            if (qc.isObject()) source = configFile;
            else qc = null;
        }
        String method = qc == null ? null : text(qc, "quant_method");
        String algo = qc == null ? null : text(qc, "quant_algo");
        String format = qc == null ? null : text(qc, "format");
        JsonNode groups = qc == null ? null : qc.get("config_groups");
        JsonNode layers = qc == null ? null : qc.get("quantized_layers");
        List<String> excluded = new ArrayList<>();
        if (qc != null) {
            addAll(excluded, qc.get("ignore"));
            addAll(excluded, qc.get("exclude_modules"));
        }
        Path hq = dir.resolve(HF_QUANT_CONFIG);
        if ((algo == null || layers == null || !layers.isObject()) && Files.isRegularFile(hq)) {
            JsonNode h = JsonFile.read(hq);
            JsonNode q = h.path("quantization");
            if (method == null) {
                String producer = text(h.path("producer"), "name");
                if (producer != null) method = producer.toLowerCase(Locale.ROOT);
            }
            if (q.isObject()) {
                if (text(q, "quant_algo") != null) algo = text(q, "quant_algo");
                if (text(q, "quant_method") != null) method = text(q, "quant_method");
                if (text(q, "format") != null) format = text(q, "format");
                if (q.has("config_groups")) groups = q.get("config_groups");
                if (q.has("quantized_layers")) layers = q.get("quantized_layers");
                addAll(excluded, q.get("exclude_modules"));
                addAll(excluded, q.get("ignore"));
                if (source == null || algo != null) source = hq;
            }
        }
        Map<String, String> groupFormats = new LinkedHashMap<>();
        if (groups != null && groups.isObject()) {
            groups.properties().forEach(e -> groupFormats.put(e.getKey(), e.getValue().isObject() ? text(e.getValue(), "format") : null));
        }
        Map<String, String> layerAlgos = new LinkedHashMap<>();
        if (layers != null && layers.isObject()) {
            layers.properties().forEach(e -> layerAlgos.put(e.getKey(), e.getValue().isObject() ? text(e.getValue(), "quant_algo") : e.getValue().asText(null)));
        }
        if (method == null && algo == null && format == null && groupFormats.isEmpty()) return NONE;
        int[] block = blockSize(qc == null ? null : qc.get("weight_block_size"));
        if (block == null && groups != null && groups.isObject()) {
            for (var e : groups.properties()) {
                if (block == null) block = blockSize(e.getValue().path("weights").get("block_structure"));
            }
        }
        return new QuantizationConfig(source, method, algo, format, groupFormats, layerAlgos, List.copyOf(new java.util.LinkedHashSet<>(excluded)), block);
    }

    /** [rows, cols] from a JSON list of two positive ints (or a "RxC" string), else null. */
    private static int[] blockSize(JsonNode n) {
        if (n == null || n.isNull()) return null;
        if (n.isTextual() && n.asText().matches("\\d+x\\d+")) {
            String[] p = n.asText().split("x");
            return new int[] {Integer.parseInt(p[0]), Integer.parseInt(p[1])};
        }
        if (n.isArray() && n.size() == 2 && n.get(0).canConvertToInt() && n.get(1).canConvertToInt() && n.get(0).asInt() > 0 && n.get(1).asInt() > 0) {
            return new int[] {n.get(0).asInt(), n.get(1).asInt()};
        }
        return null;
    }

    /** Whether FP8 weights are declared: quant_method "fp8", a ModelOpt FP8* algorithm (or layers), compressed-tensors float-quantized. */
    public boolean declaresFp8() {
        return "fp8".equals(method) || (algo != null && algo.startsWith("FP8"))
                || layerAlgos.values().stream().anyMatch(a -> a != null && a.startsWith("FP8"))
                || "float-quantized".equals(format) || groupFormats.values().stream().anyMatch("float-quantized"::equals);
    }

    public Kind kind() {
        if (this == NONE || (method == null && algo == null && format == null && groupFormats.isEmpty())) return Kind.NONE;
        boolean ct = "compressed-tensors".equals(method) && ("nvfp4-pack-quantized".equals(format)
                || ("mixed-precision".equals(format) && !groupFormats.isEmpty()
                    && groupFormats.values().stream().allMatch(f -> f == null || "nvfp4-pack-quantized".equals(f))));
        if (ct) return Kind.COMPRESSED_TENSORS_NVFP4;
        boolean nvfp4 = "NVFP4".equals(algo) || "W4A16_NVFP4".equals(algo)
                || layerAlgos.values().stream().anyMatch(a -> a != null && a.endsWith("NVFP4"));
        if (nvfp4) return Kind.MODELOPT_NVFP4;
        return Kind.OTHER;
    }

    public boolean isNvfp4() {
        Kind k = kind();
        return k == Kind.MODELOPT_NVFP4 || k == Kind.COMPRESSED_TENSORS_NVFP4;
    }

    /** Whether weight-only (W4A16) was declared: then activations are not meant to be quantized. */
    public boolean weightOnly() {
        return "W4A16_NVFP4".equals(algo);
    }

    /**
     * Whether {@code module} matches an exclusion: ModelOpt patterns are fnmatch globs ("lm_head", "*self_attn*"),
     * compressed-tensors entries are exact names or "re:" regular expressions.
     */
    public boolean isExcluded(String module) {
        for (String p : excluded) if (matches(p, module)) return true;
        return false;
    }

    static boolean matches(String pattern, String module) {
        if (pattern.startsWith("re:")) return Pattern.compile(pattern.substring(3)).matcher(module).matches();
        if (pattern.equals(module)) return true;
        return globToRegex(pattern).matcher(module).matches();
    }

    /** fnmatch's translation: * any run, ? one character, [..] a class; everything else literal. */
    public static Pattern globToRegex(String glob) {
        StringBuilder sb = new StringBuilder();
        for (int i = 0; i < glob.length(); i++) {
            char c = glob.charAt(i);
            switch (c) {
                case '*' -> sb.append(".*");
                case '?' -> sb.append('.');
                case '[' -> {
                    int j = glob.indexOf(']', i + 1);
                    if (j < 0) sb.append("\\[");
                    else {
                        String cls = glob.substring(i + 1, j);
                        if (cls.startsWith("!")) cls = "^" + cls.substring(1);
                        sb.append('[').append(cls.replace("\\", "\\\\")).append(']');
                        i = j;
                    }
                }
                default -> sb.append(Pattern.quote(String.valueOf(c)));
            }
        }
        return Pattern.compile(sb.toString());
    }


    private static String text(JsonNode n, String key) {
        JsonNode v = n == null ? null : n.get(key);
        return v == null || v.isNull() ? null : v.asText();
    }

    private static void addAll(List<String> out, JsonNode arr) {
        if (arr != null && arr.isArray()) arr.forEach(x -> out.add(x.asText()));
    }
}
