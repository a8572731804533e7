package dev.requant.converter;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.dataformat.yaml.YAMLFactory;
import dev.requant.formats.FormatException;
import dev.requant.formats.io.InputFiles;
import dev.requant.formats.gguf.GgufArray;
import dev.requant.formats.gguf.GgufKeys.General;
import dev.requant.formats.gguf.GgufMetadata;
import dev.requant.formats.gguf.GgufValue;
import dev.requant.formats.gguf.GgufValueType;
import dev.requant.formats.io.JsonFile;
import java.io.IOException;
import java.math.BigDecimal;
import java.math.RoundingMode;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.function.BiFunction;
import java.util.regex.Pattern;

/**
 * The general.* authorship and sampling keys of a conversion, found as gguf-py's {@code Metadata.load} finds them
 * (gguf-py/gguf/metadata.py): README.md front matter (the model card), config.json's {@code _name_or_path}, the folder
 * name split by {@code get_model_id_components}, generation_config.json, and finally the --model-name override. The
 * size label comes from the parameter count ({@code gguf.size_label}) unless a heuristic found one.
 */
public final class ModelNaming {
    /** Made when a model card is read: an ObjectMapper's start cost a conversion 40-50 ms (see JsonTree). */
    private static final class Yaml {
        static final ObjectMapper MAPPER = new ObjectMapper(new YAMLFactory());
    }

    // sampling
    JsonNode samplingSequence, samplingTopK, samplingTopP, samplingMinP, samplingXtcProbability, samplingXtcThreshold, samplingTemp,
            samplingPenaltyLastN, samplingPenaltyRepeat, samplingMirostat, samplingMirostatTau, samplingMirostatEta;
    // authorship
    String name, author, version, organization, finetune, basename, description, quantizedBy, sizeLabel, url, doi, uuid, repoUrl,
            sourceUrl, sourceDoi, sourceUuid, sourceRepoUrl, license, licenseName, licenseLink;
    List<Map<String, String>> baseModels, datasets;
    List<String> tags, languages;

    private ModelNaming() {}

    public String name() { return name; }

    public String basename() { return basename; }

    public String finetune() { return finetune; }

    public String version() { return version; }

    public String sizeLabel() { return sizeLabel; }

    public String organization() { return organization; }

    /**
     * Metadata.load + the fallbacks of ModelBase.prepare_metadata (folder name as the name; size label from the
     * parameter counts).
     *
     * @param modelName --model-name, or null
     * @param params total, shared, expert parameter counts and expert count, as GGUFWriter.get_total_parameter_count
     */
    public static ModelNaming load(Path dir, String modelName, long[] params) throws IOException {
        long total = params[0];
        ModelNaming m = new ModelNaming();
        JsonNode card = modelCard(dir);
        JsonNode hf = json(dir.resolve("config.json"), false);
        JsonNode gen = json(dir.resolve("generation_config.json"), true);
        m.applyHeuristics(card, hf, dir, total);
        if (gen != null) {
            m.samplingSequence = gen.get("sequence");
            m.samplingTopK = gen.get("top_k");
            m.samplingTopP = gen.get("top_p");
            m.samplingMinP = gen.get("min_p");
            m.samplingXtcProbability = gen.get("xtc_probability");
            m.samplingXtcThreshold = gen.get("xtc_threshold");
            m.samplingTemp = gen.get("temperature");
            m.samplingPenaltyLastN = gen.get("penalty_last_n");
            m.samplingPenaltyRepeat = gen.get("penalty_repeat");
            m.samplingMirostat = gen.get("mirostat");
            m.samplingMirostatTau = gen.get("mirostat_tau");
            m.samplingMirostatEta = gen.get("mirostat_eta");
        }
        if (modelName != null) m.name = modelName;
        if (m.name == null) m.name = dir.toAbsolutePath().normalize().getFileName().toString();
        if (m.sizeLabel == null && total > 0) m.sizeLabel = sizeLabel(params[0], params[1], params[2], params[3]);
        return m;
    }

    private static JsonNode json(Path f, boolean lenient) throws IOException {
        if (!InputFiles.present(f, "JSON file")) return null;
        try {
            return JsonFile.read(f);
        } catch (IOException e) {
            if (lenient) return null; // "not all models have valid generation_config.json"
            throw e;
        }
    }

    /** YAML front matter of README.md ("---" lines), with metadata.py's Norway and tab fixes. */
    static JsonNode modelCard(Path dir) throws IOException {
        Path readme = dir.resolve("README.md");
        if (!InputFiles.present(readme, "model card")) return null;
        List<String> lines = InputFiles.readText(readme, "model card").lines().toList();
        if (lines.isEmpty() || !lines.get(0).equals("---")) return null;
        StringBuilder yaml = new StringBuilder();
        for (int i = 1; i < lines.size() && !lines.get(i).equals("---"); i++) yaml.append(lines.get(i)).append('\n');
        String text = yaml.toString().replace("- no\n", "- \"no\"\n").replace("\t", "  ");
        if (text.isBlank()) return null;
        try {
            JsonNode n = Yaml.MAPPER.readTree(text);
            return n != null && n.isObject() ? n : null;
        } catch (IOException e) {
            throw new FormatException(readme, "front matter is not valid YAML: " + e.getMessage());
        }
    }

    private void applyHeuristics(JsonNode card, JsonNode hf, Path dir, long total) {
        if (card != null) {
            useCard(card, "name", "name"); useCard(card, "author", "author"); useCard(card, "version", "version");
            useCard(card, "organization", "organization"); useCard(card, "description", "description");
            useCard(card, "finetune", "finetune"); useCard(card, "basename", "basename"); useCard(card, "size_label", "size_label");
            useCard(card, "source_url", "url"); useCard(card, "source_doi", "doi"); useCard(card, "source_uuid", "uuid");
            useCard(card, "source_repo_url", "repo_url");
            useCard(card, "name", "model_name"); useCard(card, "author", "model_author"); useCard(card, "version", "model_version");
            useCard(card, "organization", "model_organization"); useCard(card, "description", "model_description");
            useCard(card, "finetune", "model_finetune"); useCard(card, "basename", "model_basename");
            useCard(card, "size_label", "model_size_label"); useCard(card, "source_url", "model_url");
            useCard(card, "source_doi", "model_doi"); useCard(card, "source_uuid", "model_uuid");
            useCard(card, "source_repo_url", "model_repo_url");
            useCard(card, "name", "model_name"); useCard(card, "author", "model_creator"); useCard(card, "basename", "model_type");
            JsonNode bm = card.has("base_model") ? card.get("base_model") : card.has("base_models") ? card.get("base_models") : card.get("base_model_sources");
            if (card.has("base_model") || card.has("base_models") || card.has("base_model_sources")) {
                if (baseModels == null) baseModels = new ArrayList<>();
                for (JsonNode id : asList(bm)) baseModels.add(reference(id, total, true));
            }
            JsonNode ds = card.has("datasets") ? card.get("datasets") : card.has("dataset") ? card.get("dataset") : card.get("dataset_sources");
            if (card.has("datasets") || card.has("dataset") || card.has("dataset_sources")) {
                if (datasets == null) datasets = new ArrayList<>();
                for (JsonNode id : asList(ds)) datasets.add(reference(id, total, false));
            }
            useCard(card, "license", "license"); useCard(card, "license_name", "license_name"); useCard(card, "license_link", "license_link");
            tags = appendList(tags, card.get("tags"));
            tags = appendList(tags, card.get("pipeline_tag"));
            languages = appendList(languages, card.get("languages"));
            languages = appendList(languages, card.get("language"));
        }
        if (hf != null) {
            JsonNode n = hf.get("_name_or_path");
            if (n != null && n.isTextual() && n.asText().chars().filter(c -> c == '/').count() <= 1) apply(IdComponents.of(n.asText(), total));
        }
        if (dir != null) apply(IdComponents.of(dir.toAbsolutePath().normalize().getFileName().toString(), total));
    }

    private void apply(IdComponents c) {
        if (name == null && c.fullName() != null) name = idToTitle(c.fullName());
        if (organization == null && c.org() != null) organization = idToTitle(c.org());
        if (basename == null && c.basename() != null) basename = c.basename();
        if (finetune == null && c.finetune() != null) finetune = c.finetune();
        if (version == null && c.version() != null) version = c.version();
        if (sizeLabel == null && c.sizeLabel() != null) sizeLabel = c.sizeLabel();
    }

    private void useCard(JsonNode card, String field, String key) {
        if (!card.has(key)) return;
        JsonNode v = card.get(key);
        String s = v == null || v.isNull() ? null : v.isArray() ? joinArray(v) : v.asText();
        switch (field) {
            case "name" -> { if (name == null) name = s; }
            case "author" -> { if (author == null) author = s; }
            case "version" -> { if (version == null) version = s; }
            case "organization" -> { if (organization == null) organization = s; }
            case "description" -> { if (description == null) description = s; }
            case "finetune" -> { if (finetune == null) finetune = s; }
            case "basename" -> { if (basename == null) basename = s; }
            case "size_label" -> { if (sizeLabel == null) sizeLabel = s; }
            case "source_url" -> { if (sourceUrl == null) sourceUrl = s; }
            case "source_doi" -> { if (sourceDoi == null) sourceDoi = s; }
            case "source_uuid" -> { if (sourceUuid == null) sourceUuid = s; }
            case "source_repo_url" -> { if (sourceRepoUrl == null) sourceRepoUrl = s; }
            case "license" -> { if (license == null) license = s; }
            case "license_name" -> { if (licenseName == null) licenseName = s; }
            case "license_link" -> { if (licenseLink == null) licenseLink = s; }
            default -> throw new IllegalArgumentException(field);
        }
    }

    /** A license given as a list is written comma-joined (set_gguf_meta_model). */
    private static String joinArray(JsonNode a) {
        List<String> parts = new ArrayList<>();
        a.forEach(x -> parts.add(x.asText()));
        return String.join(",", parts);
    }

    private static List<JsonNode> asList(JsonNode v) {
        List<JsonNode> l = new ArrayList<>();
        if (v == null || v.isNull()) return l;
        if (v.isArray()) v.forEach(l::add);
        else if (v.isTextual()) l.add(v);
        return l;
    }

    private static List<String> appendList(List<String> current, JsonNode v) {
        if (v == null || v.isNull()) return current;
        List<String> out = current == null ? new ArrayList<>() : current;
        if (v.isTextual()) out.add(v.asText());
        else if (v.isArray()) v.forEach(x -> out.add(x.asText()));
        return out;
    }

    private static final Pattern HF_URL = Pattern.compile("https?://huggingface.co/([^/]+/[^/]+)");

    /** One base model or dataset entry of the model card. */
    private static Map<String, String> reference(JsonNode id, long total, boolean model) {
        Map<String, String> m = new LinkedHashMap<>();
        if (id.isObject()) {
            id.properties().forEach(e -> m.put(e.getKey(), e.getValue().asText()));
            return m;
        }
        String s = id.asText();
        if (s.startsWith("http://") || s.startsWith("https://") || s.startsWith("ssh://")) {
            m.put("repo_url", s);
            var mt = HF_URL.matcher(s);
            if (s.contains("huggingface.co") && mt.matches()) {
                IdComponents c = IdComponents.of(mt.group(1), total);
                if (c.fullName() != null) m.put("name", idToTitle(c.fullName()));
                if (c.org() != null) m.put("organization", idToTitle(c.org()));
                if (c.version() != null) m.put("version", c.version());
            }
        } else {
            IdComponents c = IdComponents.of(s, total);
            if (c.fullName() != null) m.put("name", idToTitle(c.fullName()));
            if (c.org() != null) m.put("organization", idToTitle(c.org()));
            if (c.version() != null) m.put("version", c.version());
            if (c.org() != null && c.fullName() != null) m.put("repo_url", "https://huggingface.co/" + c.org() + "/" + c.fullName());
        }
        return m;
    }

    /** Writes the keys in Metadata.set_gguf_meta_model's order; gguf-py skips empty strings and empty lists. */
    public void writeTo(GgufMetadata md) {
        sampling(md, General.SAMPLING_SEQUENCE, samplingSequence, 's');
        sampling(md, General.SAMPLING_TOP_K, samplingTopK, 'i');
        sampling(md, General.SAMPLING_TOP_P, samplingTopP, 'f');
        sampling(md, General.SAMPLING_MIN_P, samplingMinP, 'f');
        sampling(md, General.SAMPLING_XTC_PROBABILITY, samplingXtcProbability, 'f');
        sampling(md, General.SAMPLING_XTC_THRESHOLD, samplingXtcThreshold, 'f');
        sampling(md, General.SAMPLING_TEMP, samplingTemp, 'f');
        sampling(md, General.SAMPLING_PENALTY_LAST_N, samplingPenaltyLastN, 'i');
        sampling(md, General.SAMPLING_PENALTY_REPEAT, samplingPenaltyRepeat, 'f');
        sampling(md, General.SAMPLING_MIROSTAT, samplingMirostat, 'i');
        sampling(md, General.SAMPLING_MIROSTAT_TAU, samplingMirostatTau, 'f');
        sampling(md, General.SAMPLING_MIROSTAT_ETA, samplingMirostatEta, 'f');
        str(md, General.NAME, name);
        str(md, General.AUTHOR, author);
        str(md, General.VERSION, version);
        str(md, General.ORGANIZATION, organization);
        str(md, General.FINETUNE, finetune);
        str(md, General.BASENAME, basename);
        str(md, General.DESCRIPTION, description);
        str(md, General.QUANTIZED_BY, quantizedBy);
        str(md, General.SIZE_LABEL, sizeLabel);
        str(md, General.LICENSE, license);
        str(md, General.LICENSE_NAME, licenseName);
        str(md, General.LICENSE_LINK, licenseLink);
        str(md, General.URL, url);
        str(md, General.DOI, doi);
        str(md, General.UUID, uuid);
        str(md, General.REPO_URL, repoUrl);
        str(md, General.SOURCE_URL, sourceUrl);
        str(md, General.SOURCE_DOI, sourceDoi);
        str(md, General.SOURCE_UUID, sourceUuid);
        str(md, General.SOURCE_REPO_URL, sourceRepoUrl);
        references(md, General.BASE_MODEL_COUNT, General::baseModel, baseModels);
        references(md, General.DATASET_COUNT, General::dataset, datasets);
        if (tags != null && !tags.isEmpty()) md.put(General.TAGS, GgufValue.array(GgufArray.ofStrings(tags.toArray(String[]::new))));
        if (languages != null && !languages.isEmpty()) md.put(General.LANGUAGES, GgufValue.array(GgufArray.ofStrings(languages.toArray(String[]::new))));
    }

    private static void references(GgufMetadata md, String countKey, BiFunction<Integer, String, String> fieldKey,
            List<Map<String, String>> entries) {
        if (entries == null) return;
        md.put(countKey, GgufValue.u32(entries.size()));
        for (int i = 0; i < entries.size(); i++) {
            Map<String, String> e = entries.get(i);
            for (String k : List.of("name", "author", "version", "organization", "description", "url", "doi", "uuid", "repo_url")) {
                if (e.containsKey(k)) str(md, fieldKey.apply(i, k), e.get(k));
            }
        }
    }

    private static void str(GgufMetadata md, String key, String v) {
        if (v != null && !v.isEmpty()) md.put(key, GgufValue.string(v));
    }

    private static void sampling(GgufMetadata md, String key, JsonNode v, char kind) {
        if (v == null || v.isNull()) return;
        switch (kind) {
            case 's' -> str(md, key, v.asText());
            case 'i' -> md.put(key, GgufValue.i32(v.asLong()));
            default -> md.put(key, GgufValue.f32((float) v.asDouble()));
        }
    }

    // ---- gguf-py helpers, ported

    /** Metadata.id_to_title: title-case lower-case words that are not versions or numbers. */
    public static String idToTitle(String s) {
        List<String> out = new ArrayList<>();
        for (String w : s.strip().replace('-', ' ').split("\\s+")) {
            if (w.isEmpty()) continue;
            out.add(isLower(w) && !VERSION_OR_NUMBER.matcher(w).find() ? pyTitle(w) : w);
        }
        return String.join(" ", out);
    }

    private static final Pattern VERSION_OR_NUMBER = Pattern.compile("^(v\\d+(?:\\.\\d+)*|\\d.*)$");

    /** Python str.islower(): at least one cased character and no upper-case ones. */
    static boolean isLower(String w) {
        boolean cased = false;
        for (int i = 0; i < w.length(); i++) {
            char c = w.charAt(i);
            if (Character.isUpperCase(c) || Character.isTitleCase(c)) return false;
            if (Character.isLowerCase(c)) cased = true;
        }
        return cased;
    }

    /** Python str.title(): a cased character after an uncased one is upper-cased, the others lower-cased. */
    static String pyTitle(String w) {
        StringBuilder sb = new StringBuilder();
        boolean prevCased = false;
        for (int i = 0; i < w.length(); i++) {
            char c = w.charAt(i);
            boolean cased = Character.isLetter(c) && (Character.isUpperCase(c) || Character.isLowerCase(c) || Character.isTitleCase(c));
            sb.append(cased ? (prevCased ? Character.toLowerCase(c) : Character.toTitleCase(c)) : c);
            prevCased = cased;
        }
        return sb.toString();
    }

    /** gguf.size_label (utility.py). */
    public static String sizeLabel(long total, long shared, long expert, long expertCount) {
        if (expertCount > 0) return expertCount + "x" + roundedNotation(Math.abs(shared) + Math.abs(expert), 2);
        return roundedNotation(Math.abs(total), 2);
    }

    /** utility.model_weight_count_rounded_notation, with Python's round-half-even formatting of the exact double. */
    static String roundedNotation(long count, int minDigits) {
        double scaled;
        String suffix;
        if (count >= 1e12) { scaled = count * 1e-12; suffix = "T"; }
        else if (count >= 1e9) { scaled = count * 1e-9; suffix = "B"; }
        else if (count >= 1e6) { scaled = count * 1e-6; suffix = "M"; }
        else { scaled = count * 1e-3; suffix = "K"; }
        String rounded = BigDecimal.valueOf((long) Math.rint(scaled)).toPlainString().replaceFirst("^0+", "");
        int fix = Math.max(minDigits - rounded.length(), 0);
        return new BigDecimal(scaled).setScale(fix, RoundingMode.HALF_EVEN).toPlainString() + suffix;
    }

    /** Metadata.get_model_id_components: the parts of "org/name-3B-instruct-v1" style ids. */
    record IdComponents(String fullName, String org, String basename, String finetune, String version, String sizeLabel) {
        private static final Pattern VERSION = Pattern.compile("(v|iter)?\\d+([.]\\d+)*", Pattern.CASE_INSENSITIVE);
        private static final Pattern QUANT = Pattern.compile("i?q\\d(_\\w)*|b?fp?(16|32)", Pattern.CASE_INSENSITIVE);
        private static final Pattern SIZE = Pattern.compile("(([A]|\\d+[x])?\\d+([._]\\d+)?[KMBT][\\d]?|small|mini|medium|large|x?xl)", Pattern.CASE_INSENSITIVE);
        private static final Pattern FINETUNE = Pattern.compile("chat|instruct|vision|lora", Pattern.CASE_INSENSITIVE);
        private static final Pattern ACTIVE = Pattern.compile("A\\d+([._]\\d+)?[KMBT][\\d]?", Pattern.CASE_INSENSITIVE);

        static IdComponents of(String modelId, long total) {
            if (modelId == null) return new IdComponents(null, null, null, null, null, null);
            if (modelId.contains(" ")) return new IdComponents(modelId, null, null, null, null, null);
            String org = null, full = modelId;
            int slash = modelId.indexOf('/');
            if (slash >= 0) {
                org = modelId.substring(0, slash);
                full = modelId.substring(slash + 1);
            }
            if (org != null && !org.isEmpty() && org.charAt(0) == '.') org = null;
            List<String> parts = new ArrayList<>();
            for (String p : full.split("-", -1)) if (!p.isEmpty()) parts.add(p);
            List<Set<String>> types = new ArrayList<>();
            for (int i = 0; i < parts.size(); i++) types.add(new LinkedHashSet<>());
            for (int i = 0; i < parts.size(); i++) {
                String part = parts.get(i);
                if (VERSION.matcher(part).matches()) {
                    types.get(i).add("version");
                } else if (QUANT.matcher(part).matches()) {
                    types.get(i).add("type");
                    parts.set(i, part.toUpperCase(java.util.Locale.ROOT));
                } else if (i > 0 && SIZE.matcher(part).matches()) {
                    part = normalizeSizeLabel(part);
                    if (total != 0) {
                        try {
                            double labelParams = sizeLabelParams(part);
                            String nextPart = i + 1 < parts.size() ? normalizeSizeLabel(parts.get(i + 1)) : null;
                            boolean activeFollows = false;
                            if (nextPart != null && ACTIVE.matcher(nextPart).matches()) {
                                activeFollows = Math.abs(sizeLabelParams(nextPart.substring(1)) - Math.abs(total)) <= Math.floorDiv(7 * Math.abs(total), 8);
                            }
                            if (!activeFollows && ((total < 0 && labelParams < Math.floorDiv(Math.abs(total), 8))
                                    || (total > 0 && Math.abs(labelParams - total) > Math.floorDiv(7 * total, 8)))) {
                                types.get(i).add("finetune");
                                part = part.substring(0, part.length() - 1) + Character.toLowerCase(part.charAt(part.length() - 1));
                            }
                        } catch (NumberFormatException e) {
                            // "Failed to convert the size label to float, use it anyway"
                        }
                    }
                    if (types.get(i).isEmpty()) types.get(i).add("size_label");
                    parts.set(i, part);
                } else if (i > 0 && FINETUNE.matcher(part).matches()) {
                    types.get(i).add(total < 0 && part.equalsIgnoreCase("lora") ? "type" : "finetune");
                }
            }
            boolean numericSize = false;
            for (int i = 0; i < parts.size(); i++) {
                if (types.get(i).contains("size_label") && parts.get(i).chars().anyMatch(Character::isDigit)) numericSize = true;
            }
            if (numericSize) {
                for (int i = 0; i < parts.size(); i++) {
                    if (types.get(i).contains("size_label") && parts.get(i).chars().allMatch(Character::isLetter)) types.get(i).remove("size_label");
                }
            }
            boolean atStart = true;
            for (int i = 0; i < parts.size(); i++) {
                Set<String> t = types.get(i);
                String part = parts.get(i);
                if (atStart && ((t.isEmpty() && Character.isLetter(part.charAt(0))) || t.contains("version"))) {
                    t.add("basename");
                } else {
                    atStart = false;
                    if (t.isEmpty()) t.add("finetune");
                }
            }
            for (int i = parts.size() - 1; i >= 0; i--) {
                Set<String> t = types.get(i);
                if (t.contains("basename") && t.size() > 1) t.remove("basename");
                else break;
            }
            String basename = join(parts, types, "basename", null);
            LinkedHashSet<String> sizes = new LinkedHashSet<>();
            for (int i = 0; i < parts.size(); i++) if (types.get(i).contains("size_label")) sizes.add(parts.get(i));
            String sizeLabel = sizes.isEmpty() ? null : String.join("-", sizes);
            String finetune = join(parts, types, "finetune", null);
            String version = join(parts, types, "version", "basename");
            if (sizeLabel == null && finetune == null && version == null) basename = null;
            return new IdComponents(full, org, basename, finetune, version, sizeLabel);
        }

        private static String join(List<String> parts, List<Set<String>> types, String want, String exclude) {
            List<String> out = new ArrayList<>();
            for (int i = 0; i < parts.size(); i++) {
                if (types.get(i).contains(want) && (exclude == null || !types.get(i).contains(exclude))) out.add(parts.get(i));
            }
            return out.isEmpty() ? null : String.join("-", out);
        }

        static double sizeLabelParams(String label) {
            double v = Double.parseDouble(label.substring(0, label.length() - 1));
            if (label.substring(0, label.length() - 1).matches(".*[^0-9.eE+-].*")) throw new NumberFormatException(label);
            int pow = " KMBT".indexOf(label.charAt(label.length() - 1));
            return v * Math.pow(1000, pow);
        }

        static String normalizeSizeLabel(String label) {
            label = label.replace('_', '.');
            if (Character.isDigit(label.charAt(label.length() - 1))) {
                label = label.substring(0, label.length() - 2) + "." + label.charAt(label.length() - 1) + label.charAt(label.length() - 2);
            }
            if (label.length() > 1 && Character.isDigit(label.charAt(label.length() - 2)) && "kmbt".indexOf(label.charAt(label.length() - 1)) >= 0) {
                label = label.substring(0, label.length() - 1) + Character.toUpperCase(label.charAt(label.length() - 1));
            }
            return label;
        }
    }

}
