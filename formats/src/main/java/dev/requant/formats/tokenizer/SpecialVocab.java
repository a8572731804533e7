package dev.requant.formats.tokenizer;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.requant.formats.FormatException;
import dev.requant.formats.gguf.GgufArray;
import dev.requant.formats.gguf.GgufKeys;
import dev.requant.formats.gguf.GgufMetadata;
import dev.requant.formats.gguf.GgufValue;
import dev.requant.formats.io.JsonFile;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.TreeSet;
import java.util.stream.Stream;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Special token ids, add-bos/eos flags, merges and the chat template of a Hugging Face folder, found the way
 * gguf-py's {@code SpecialVocab} finds them (vocab.py): tokenizer.json (merges, post-processor heuristics, added
 * tokens), tokenizer_config.json ({@code add_*_token}, {@code *_token}, {@code chat_template}), chat_template.jinja /
 * chat_template.json, then config.json ({@code *_token_id}). The first source that sets a type wins, and the
 * insertion order of the maps is the order the keys are written in.
 */
public final class SpecialVocab {
    private static final Logger LOG = LoggerFactory.getLogger(SpecialVocab.class);

    /** gguf-py's default special token types, in order. */
    public static final List<String> DEFAULT_TYPES = List.of("bos", "eos", "unk", "sep", "pad", "cls", "mask");

    /** GGUF key of each special token id type that has a gguf-py add_*_token_id handler. */
    private static final Map<String, String> ID_KEYS = Map.of(
            "bos", GgufKeys.Tokenizer.BOS_ID, "eos", GgufKeys.Tokenizer.EOS_ID,
            "unk", GgufKeys.Tokenizer.UNK_ID, "sep", GgufKeys.Tokenizer.SEP_ID,
            "pad", GgufKeys.Tokenizer.PAD_ID, "mask", GgufKeys.Tokenizer.MASK_ID,
            "eot", GgufKeys.Tokenizer.EOT_ID, "eom", GgufKeys.Tokenizer.EOM_ID);
    private static final Map<String, String> ADD_KEYS = Map.of(
            "bos", GgufKeys.Tokenizer.ADD_BOS, "eos", GgufKeys.Tokenizer.ADD_EOS, "sep", GgufKeys.Tokenizer.ADD_SEP);

    private final Integer nVocab;
    private final boolean loadMerges;
    private final List<String> types;
    private List<String> merges = List.of();
    private final LinkedHashMap<String, Integer> specialTokenIds = new LinkedHashMap<>();
    private final LinkedHashMap<String, Boolean> addSpecialToken = new LinkedHashMap<>();
    private ChatTemplate chatTemplate;
    private boolean normalizerLowercase;

    private SpecialVocab(boolean loadMerges, List<String> types, Integer nVocab) {
        this.loadMerges = loadMerges;
        this.types = new ArrayList<>(types);
        this.nVocab = nVocab;
    }

    /**
     * Reads a folder.
     *
     * @param nVocab ids at or above it are ignored (the SentencePiece path passes the token count; null = no limit)
     */
    public static SpecialVocab load(Path dir, boolean loadMerges, Integer nVocab) throws IOException {
        return load(dir, loadMerges, DEFAULT_TYPES, nVocab);
    }

    public static SpecialVocab load(Path dir, boolean loadMerges, List<String> types, Integer nVocab) throws IOException {
        SpecialVocab v = new SpecialVocab(loadMerges, types, nVocab);
        v.loadTokenizerFiles(dir);
        v.loadConfigJson(dir);
        if (loadMerges && v.merges.isEmpty()) v.loadMergesTxt(dir);
        return v;
    }

    public List<String> merges() { return merges; }

    public void setMerges(List<String> m) { merges = List.copyOf(m); }

    /** Type ("bos", "eos", ...) to id, in the order they were found. */
    public Map<String, Integer> specialTokenIds() { return Collections.unmodifiableMap(specialTokenIds); }

    /** Type ("bos", "eos", "sep", ...) to whether the tokenizer adds it, in the order found. */
    public Map<String, Boolean> addSpecialToken() { return Collections.unmodifiableMap(addSpecialToken); }

    /** The chat template, or null. */
    public ChatTemplate chatTemplate() { return chatTemplate; }

    public boolean normalizerLowercase() { return normalizerLowercase; }

    /** gguf-py {@code _set_special_token}: non-integers are ignored, and a type is never overwritten. */
    public void setSpecialToken(String type, JsonNode id) {
        if (id == null || !id.isIntegralNumber()) return;
        setSpecialToken(type, id.asLong());
    }

    public void setSpecialToken(String type, long id) {
        if (id < 0) throw new IllegalArgumentException("invalid value for special token type " + type + ": " + id);
        if (nVocab == null || id < nVocab) {
            specialTokenIds.putIfAbsent(type, (int) id);
            return;
        }
        LOG.warn("Special token type {}, id {} out of range, must be under {} - skipping", type, id, nVocab);
    }

    /**
     * Writes the keys as gguf-py's {@code add_to_gguf}: merges, special ids, add flags, chat template, normalizer. A key
     * written twice keeps its first position (gguf-py overwrites in place).
     */
    public void writeTo(GgufMetadata md) {
        if (!merges.isEmpty()) {
            md.put(GgufKeys.Tokenizer.MERGES, GgufValue.array(GgufArray.ofStrings(merges.toArray(String[]::new))));
        } else if (loadMerges) {
            LOG.warn("Adding merges requested but no merges found, output may be non-functional.");
        }
        for (var e : specialTokenIds.entrySet()) {
            String key = ID_KEYS.get(e.getKey());
            if (key == null) {
                LOG.warn("No handler for special token type {} with id {} - skipping", e.getKey(), e.getValue());
                continue;
            }
            md.put(key, GgufValue.u32(e.getValue()));
        }
        for (var e : addSpecialToken.entrySet()) {
            String key = ADD_KEYS.get(e.getKey());
            if (key == null) {
                LOG.warn("No handler for add_{}_token with value {} - skipping", e.getKey(), e.getValue());
                continue;
            }
            md.put(key, GgufValue.bool(e.getValue()));
        }
        if (chatTemplate != null) writeChatTemplate(md, chatTemplate);
        if (normalizerLowercase) md.put(GgufKeys.Tokenizer.NORMALIZER_LOWERCASE, GgufValue.bool(true));
    }

    /**
     * gguf_writer.py add_chat_template. Named templates become tokenizer.chat_template.NAME plus the
     * tokenizer.chat_templates list; gguf-py lists the names in set order (hash-dependent), we sort them.
     */
    static void writeChatTemplate(GgufMetadata md, ChatTemplate t) {
        String value = t.single();
        if (value == null) {
            String def = null;
            TreeSet<String> names = new TreeSet<>();
            for (ChatTemplate.Named n : t.named()) {
                StringBuilder name = new StringBuilder();
                for (char c : n.name().toCharArray()) name.append((c < 128 && Character.isLetterOrDigit(c)) ? c : '_');
                if (!name.isEmpty() && n.template() != null) {
                    if (name.toString().equals("default")) {
                        def = n.template();
                    } else {
                        names.add(name.toString());
                        if (!n.template().isEmpty()) md.put(GgufKeys.Tokenizer.chatTemplate(name.toString()), GgufValue.string(n.template()));
                    }
                }
            }
            if (!names.isEmpty()) md.put(GgufKeys.Tokenizer.CHAT_TEMPLATES, GgufValue.array(GgufArray.ofStrings(names.toArray(String[]::new))));
            if (def == null) return;
            value = def;
        }
        if (!value.isEmpty()) md.put(GgufKeys.Tokenizer.CHAT_TEMPLATE, GgufValue.string(value)); // add_string skips ""
    }

    private void loadTokenizerFiles(Path dir) throws IOException {
        Path tokenizerFile = dir.resolve("tokenizer.json");
        ObjectNode tokenizer = null;
        List<HfTokenizerJson.AddedToken> addedTokens = List.of();
        if (Files.isRegularFile(tokenizerFile)) {
            HfTokenizerJson tj = HfTokenizerJson.read(tokenizerFile);
            tokenizer = tj.root();
            if (loadMerges && !tj.merges().isEmpty()) merges = tj.merges();
            JsonNode normalizer = tokenizer.get("normalizer");
            if (truthy(normalizer)) parseNormalizer(normalizer);
            addedTokens = tj.addedTokens();
        }
        Path configFile = dir.resolve("tokenizer_config.json");
        ObjectNode tc = null;
        if (Files.isRegularFile(configFile)) {
            JsonNode n = readJson(configFile);
            if (!n.isObject()) throw new FormatException(configFile, "is not a JSON object");
            tc = (ObjectNode) n;
        }
        if (truthy(tokenizer)) postProcessor(tokenizer, tc);
        if (!truthy(tc)) return;

        Object alt = null;
        Path jinja = dir.resolve("chat_template.jinja");
        Path ctJson = dir.resolve("chat_template.json");
        if (Files.isRegularFile(jinja)) {
            String text = Files.readString(jinja);
            List<Path> extra = new ArrayList<>();
            Path extraDir = dir.resolve("additional_chat_templates");
            if (Files.isDirectory(extraDir)) {
                try (Stream<Path> s = Files.list(extraDir)) {
                    s.filter(p -> p.getFileName().toString().endsWith(".jinja")).sorted().forEach(extra::add);
                }
            }
            if (extra.isEmpty()) {
                alt = text;
            } else {
                List<ChatTemplate.Named> named = new ArrayList<>();
                named.add(new ChatTemplate.Named("default", text));
                for (Path p : extra) {
                    String stem = p.getFileName().toString();
                    named.add(new ChatTemplate.Named(stem.substring(0, stem.length() - ".jinja".length()), Files.readString(p)));
                }
                alt = named;
            }
        } else if (Files.isRegularFile(ctJson)) {
            JsonNode ct = readJson(ctJson).get("chat_template");
            alt = ct == null || ct.isNull() ? null : ct;
        }
        Object chat = tc.has("chat_template") ? tc.get("chat_template") : alt;
        chatTemplate = toTemplate(chat, configFile);

        for (String typ : types) {
            JsonNode add = tc.get("add_" + typ + "_token");
            if (add != null && add.isBoolean()) addSpecialToken.put(typ, add.asBoolean());
            JsonNode entry = tc.get(typ + "_token");
            String content;
            if (entry != null && entry.isTextual()) {
                content = entry.asText();
            } else if (entry != null && entry.isObject() && entry.path("content").isTextual()) {
                content = entry.get("content").asText();
            } else {
                continue;
            }
            for (HfTokenizerJson.AddedToken a : addedTokens) {
                if (a.content().equals(content)) {
                    setSpecialToken(typ, a.id());
                    break;
                }
            }
        }
    }

    private static ChatTemplate toTemplate(Object chat, Path configFile) {
        if (chat == null) return null;
        if (chat instanceof String s) return ChatTemplate.of(s);
        if (chat instanceof List<?> l) {
            @SuppressWarnings("unchecked") List<ChatTemplate.Named> named = (List<ChatTemplate.Named>) l;
            return ChatTemplate.of(named);
        }
        JsonNode n = (JsonNode) chat;
        if (n.isNull()) return null;
        if (n.isTextual()) return ChatTemplate.of(n.asText());
        if (n.isArray()) {
            List<ChatTemplate.Named> named = new ArrayList<>();
            for (JsonNode c : n) named.add(new ChatTemplate.Named(c.path("name").asText(""), c.path("template").isTextual() ? c.get("template").asText() : null));
            return ChatTemplate.of(named);
        }
        LOG.warn("Bad type for chat_template field in {} - ignoring", configFile);
        return null;
    }

    /** The post-processor heuristics of vocab.py _try_load_from_tokenizer_json, rough as they are there. */
    private void postProcessor(ObjectNode tokenizer, ObjectNode tc) {
        Object bos = tcGet(tc, "bos_token"), cls = tcGet(tc, "cls_token"), eos = tcGet(tc, "eos_token"), sep = tcGet(tc, "sep_token");
        if (!truthy(bos) && truthy(cls) && truthy(tc)) { tc.set("bos_token", asNode(cls)); bos = cls; }
        if (!truthy(eos) && truthy(sep) && truthy(tc)) { tc.set("eos_token", asNode(sep)); eos = sep; }
        JsonNode pp = tokenizer.get("post_processor");
        if (!truthy(pp)) return;
        JsonNode processors = pp.has("processors") ? pp.get("processors") : tokenizer.arrayNode().add(pp);
        for (JsonNode p : processors) {
            String type = p.path("type").asText("");
            if (type.equals("RobertaProcessing")) {
                addSpecialToken.put("bos", true);
                addSpecialToken.put("eos", true);
                addSpecialToken.put("sep", true);
                if (!truthy(cls) && truthy(tc)) {
                    cls = p.has("cls") ? value(p.get("cls").get(0)) : bos;
                    tc.set("cls_token", asNode(cls));
                }
                if (!truthy(sep) && truthy(tc)) {
                    sep = p.has("sep") ? value(p.get("sep").get(0)) : eos;
                    tc.set("sep_token", asNode(sep));
                }
                continue;
            }
            if (!type.equals("TemplateProcessing")) continue;
            JsonNode single = p.path("single"), pair = p.path("pair");
            Object first = null, last = null;
            if (single.isArray() && single.size() > 1) {
                first = value(single.get(0).path("SpecialToken").get("id"));
                if (truthy(first)) {
                    if (!truthy(tc)) bos = first;
                    addSpecialToken.put("bos", Objects.equals(first, bos) || Objects.equals(first, cls));
                    if (!Objects.equals(first, bos) && !Objects.equals(first, cls)) LOG.warn("Unknown leading special token {} in TemplateProcessing<single>", first);
                }
                last = value(single.get(single.size() - 1).path("SpecialToken").get("id"));
                if (truthy(last)) {
                    if (!truthy(tc)) {
                        eos = last;
                    } else if (!Objects.equals(last, eos)) {
                        if (!types.contains("eot")) {
                            types.add("eot");
                            tc.set("eot_token", asNode(eos));
                        } else if (!types.contains("eom")) {
                            types.add("eom");
                            tc.set("eom_token", asNode(eos));
                        } else {
                            LOG.warn("Overriding EOS token {} with {} without EOT/EOM fallback!", eos, last);
                        }
                        tc.set("eos_token", asNode(last));
                        eos = last;
                    }
                    addSpecialToken.put("eos", Objects.equals(last, eos));
                }
            }
            if (pair.isArray() && !pair.isEmpty()) {
                List<JsonNode> items = new ArrayList<>();
                pair.forEach(items::add);
                int start = truthy(first) && Objects.equals(value(items.get(0).path("SpecialToken").get("id")), first) ? 1 : 0;
                int stop = truthy(last) && Objects.equals(value(items.get(items.size() - 1).path("SpecialToken").get("id")), last) ? items.size() - 1 : items.size();
                List<JsonNode> mid = start < stop ? items.subList(start, stop) : List.of();
                if (!mid.isEmpty()) {
                    Object a = value(mid.get(0).path("Sequence").get("id"));
                    Object b = value(mid.get(mid.size() - 1).path("Sequence").get("id"));
                    List<JsonNode> inner = mid.size() > 2 ? mid.subList(1, mid.size() - 1) : List.of();
                    if ("A".equals(a) && "B".equals(b) && !inner.isEmpty()) {
                        boolean addSep = false;
                        Object entry = value(inner.get(0).path("SpecialToken").get("id"));
                        if (truthy(entry) && (Objects.equals(entry, sep) || Objects.equals(entry, eos)) && !truthy(last)) addSep = true;
                        if (inner.size() == 2) {
                            Object entry2 = value(inner.get(1).path("SpecialToken").get("id"));
                            if (truthy(entry2) && (Objects.equals(entry2, sep) || Objects.equals(entry2, eos))) addSep = true;
                        }
                        addSpecialToken.put("sep", addSep);
                        if (addSep && !truthy(sep) && truthy(tc)) tc.set("sep_token", asNode(eos));
                    }
                }
            }
        }
    }

    private void parseNormalizer(JsonNode n) {
        String type = n.path("type").asText("");
        switch (type) {
            case "Lowercase" -> normalizerLowercase = true;
            case "BertNormalizer" -> { if (n.path("lowercase").asBoolean(true)) normalizerLowercase = true; }
            case "Sequence" -> { for (JsonNode c : n.path("normalizers")) parseNormalizer(c); }
            default -> { }
        }
    }

    private void loadConfigJson(Path dir) throws IOException {
        Path config = dir.resolve("config.json");
        if (!Files.isRegularFile(config)) return;
        JsonNode c = readJson(config);
        for (String typ : types) {
            JsonNode id = c.get(typ + "_token_id");
            if ((id == null || id.isNull()) && c.has("text_config")) id = c.get("text_config").get(typ + "_token_id");
            setSpecialToken(typ, id);
        }
    }

    private void loadMergesTxt(Path dir) throws IOException {
        Path f = dir.resolve("merges.txt");
        if (!Files.isRegularFile(f)) return;
        List<String> lines = Files.readAllLines(f);
        List<String> out = new ArrayList<>();
        int i = 0;
        if (!lines.isEmpty() && lines.get(0).strip().startsWith("#")) i = 1;
        for (; i < lines.size(); i++) {
            String line = lines.get(i).strip();
            if (line.isEmpty()) continue;
            String[] parts = line.split("\\s+");
            if (parts.length != 2) {
                LOG.warn("{}: Line {}: Entry malformed, ignoring", f.getFileName(), i + 1);
                continue;
            }
            out.add(parts[0] + " " + parts[1]);
        }
        merges = out;
    }

    static JsonNode readJson(Path file) throws IOException {
        JsonNode n = JsonFile.read(file);
        if (n == null) throw new FormatException(file, "is empty");
        return n;
    }

    private static Object tcGet(ObjectNode tc, String key) {
        return tc == null ? null : value(tc.get(key));
    }

    /** A JSON value as Python sees it for == comparisons: strings as String, anything else as the node. */
    private static Object value(JsonNode n) {
        if (n == null || n.isNull() || n.isMissingNode()) return null;
        return n.isTextual() ? n.asText() : n;
    }

    private static JsonNode asNode(Object o) {
        if (o == null) return com.fasterxml.jackson.databind.node.NullNode.getInstance();
        if (o instanceof JsonNode n) return n;
        return com.fasterxml.jackson.databind.node.TextNode.valueOf(o.toString());
    }

    /** Python truthiness of a JSON value. */
    private static boolean truthy(Object o) {
        if (o == null) return false;
        if (o instanceof String s) return !s.isEmpty();
        JsonNode n = (JsonNode) o;
        if (n.isNull() || n.isMissingNode()) return false;
        if (n.isTextual()) return !n.asText().isEmpty();
        if (n.isBoolean()) return n.asBoolean();
        if (n.isNumber()) return n.asDouble() != 0;
        if (n.isContainerNode()) return !n.isEmpty();
        return true;
    }
}
