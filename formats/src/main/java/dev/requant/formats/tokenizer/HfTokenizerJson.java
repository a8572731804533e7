package dev.requant.formats.tokenizer;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.requant.formats.FormatException;
import dev.requant.formats.io.InputFiles;
import dev.requant.formats.io.JsonFile;
import java.io.IOException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * A Hugging Face {@code tokenizer.json} (the "fast" tokenizer file): the model section (type, vocab, merges,
 * byte_fallback), the added tokens, and the raw normalizer / decoder / post-processor sections that gguf-py's
 * SpecialVocab inspects. Merges are returned in GGUF form, "left right", as gguf-py vocab.py converts them: the
 * newer [left, right] pair form is joined with one space after mapping any space inside a part to U+0120.
 */
public final class HfTokenizerJson {

    /** One entry of {@code added_tokens}. */
    public record AddedToken(int id, String content, boolean special, boolean normalized, boolean lstrip, boolean rstrip, boolean singleWord) {}

    private final Path file;
    private final ObjectNode root;
    private final String modelType;
    private final LinkedHashMap<String, Integer> vocab;
    private final List<String> merges;
    private final List<AddedToken> addedTokens;

    private HfTokenizerJson(Path file, ObjectNode root, String modelType, LinkedHashMap<String, Integer> vocab,
                            List<String> merges, List<AddedToken> addedTokens) {
        this.file = file;
        this.root = root;
        this.modelType = modelType;
        this.vocab = vocab;
        this.merges = merges;
        this.addedTokens = addedTokens;
    }

    public static HfTokenizerJson read(Path file) throws IOException {
        InputFiles.requireRegular(file, "tokenizer file");
        JsonNode root = JsonFile.read(file);
        if (root == null || !root.isObject()) throw new FormatException(file, "is not a JSON object");
        JsonNode model = root.get("model");
        if (model == null || !model.isObject()) throw new FormatException(file, "has no \"model\" object");
        String type = model.path("type").asText("");
        LinkedHashMap<String, Integer> vocab = new LinkedHashMap<>();
        JsonNode v = model.get("vocab");
        if (v != null && v.isObject()) {
            for (var e : v.properties()) {
                if (!e.getValue().canConvertToInt()) throw new FormatException(file, "model.vocab entry '" + e.getKey() + "' is not a token id");
                vocab.put(e.getKey(), e.getValue().asInt());
            }
        }
        List<String> merges = new ArrayList<>();
        JsonNode m = model.get("merges");
        if (m != null && m.isArray() && !m.isEmpty()) {
            if (m.get(0).isTextual()) {
                for (JsonNode x : m) merges.add(x.asText());
            } else if (m.get(0).isArray() && m.get(0).size() == 2 && m.get(0).get(0).isTextual()) {
                for (JsonNode pair : m) {
                    if (!pair.isArray() || pair.size() != 2) throw new FormatException(file, "model.merges mixes formats");
                    merges.add(spaced(pair.get(0).asText()) + " " + spaced(pair.get(1).asText()));
                }
            } else {
                throw new FormatException(file, "model.merges has an unknown format");
            }
        }
        List<AddedToken> added = new ArrayList<>();
        JsonNode a = root.get("added_tokens");
        if (a != null && a.isArray()) {
            for (JsonNode t : a) {
                if (!t.path("id").canConvertToInt() || !t.path("content").isTextual()) {
                    throw new FormatException(file, "added_tokens entry " + t + " needs an id and a content");
                }
                added.add(new AddedToken(t.get("id").asInt(), t.get("content").asText(), t.path("special").asBoolean(false),
                        t.path("normalized").asBoolean(true), t.path("lstrip").asBoolean(false), t.path("rstrip").asBoolean(false),
                        t.path("single_word").asBoolean(false)));
            }
        }
        return new HfTokenizerJson(file, (ObjectNode) root, type, vocab, Collections.unmodifiableList(merges), Collections.unmodifiableList(added));
    }

    /** gguf-py: a space inside a merge part becomes chr(ord(' ') + 256). */
    private static String spaced(String part) {
        return part.replace(' ', '\u0120');
    }

    public Path file() { return file; }

    /** The whole document (read-only by convention). */
    public ObjectNode root() { return root; }

    /** {@code model.type}: "BPE", "Unigram", "WordPiece"... */
    public String modelType() { return modelType; }

    public boolean byteFallback() { return root.path("model").path("byte_fallback").asBoolean(false); }

    public boolean ignoreMerges() { return root.path("model").path("ignore_merges").asBoolean(false); }

    /** {@code decoder.type}, or "" when there is no decoder. */
    public String decoderType() { return root.path("decoder").path("type").asText(""); }

    /** The model vocabulary in file order (token text to id). */
    public Map<String, Integer> vocab() { return Collections.unmodifiableMap(vocab); }

    /** Merges as "left right" strings, rank order. */
    public List<String> merges() { return merges; }

    public List<AddedToken> addedTokens() { return addedTokens; }
}
