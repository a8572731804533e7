package dev.requant.formats.tokenizer;

import com.fasterxml.jackson.databind.JsonNode;
import dev.requant.formats.FormatException;
import dev.requant.formats.io.InputFiles;
import java.io.IOException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeMap;
import java.util.regex.Pattern;

/**
 * The token tables of Gemma 4's "gemma4" vocabulary, built from {@code tokenizer.json} as conversion/gemma.py
 * Gemma4Model.set_vocab does through gguf-py's LlamaHfVocab: the base vocabulary in id order (BYTE for "&lt;0xXX&gt;",
 * CONTROL for special ids, NORMAL otherwise), then added tokens beyond it (CONTROL if special, else USER_DEFINED),
 * every score -1000, and the seven chat-parser tokens forced to USER_DEFINED so that they are always rendered.
 *
 * <p>LlamaHfVocab asks transformers for {@code all_special_ids}; without transformers, a token id is special here when
 * tokenizer.json marks it {@code "special": true} or tokenizer_config.json names it as a bos/eos/unk/sep/pad/cls/mask
 * or additional/extra special token.
 */
public final class Gemma4Vocab {
    /** gemma.py Gemma4Model.set_vocab visible_tokens. */
    public static final Set<String> VISIBLE_TOKENS = Set.of("<|channel>", "<channel|>", "<|tool_call>", "<tool_call|>",
            "<|tool_response>", "<tool_response|>", "<|\"|>");
    private static final Pattern BYTE_TOKEN = Pattern.compile("<0x[0-9A-Fa-f]{2}>");

    private Gemma4Vocab() {}

    /** Fails like LlamaHfVocab does when tokenizer.json is not a byte-fallback BPE with a Sequence decoder. */
    public static void check(HfTokenizerJson tj) throws FormatException {
        boolean llama3 = tj.modelType().equals("BPE") && tj.ignoreMerges() && !tj.root().path("model").path("byte_fallback").asBoolean(true);
        if (llama3 || !tj.modelType().equals("BPE") || !tj.byteFallback() || !tj.decoderType().equals("Sequence")) {
            throw new FormatException(tj.file(), "is not a Gemma 4 BPE tokenizer (model.type " + tj.modelType() + ", byte_fallback "
                    + tj.byteFallback() + ", decoder " + (tj.decoderType().isEmpty() ? "none" : tj.decoderType()) + "; expected BPE, true, Sequence)");
        }
    }

    public static VocabularyTables create(Path dir, HfTokenizerJson tj) throws IOException {
        check(tj);
        int base = tj.vocab().size();
        Map<Integer, String> reverse = new HashMap<>();
        for (var e : tj.vocab().entrySet()) reverse.put(e.getValue(), e.getKey());
        TreeMap<Integer, HfTokenizerJson.AddedToken> beyond = new TreeMap<>();
        for (HfTokenizerJson.AddedToken a : tj.addedTokens()) {
            reverse.put(a.id(), a.content());
            if (a.id() >= base) beyond.put(a.id(), a);
        }
        Set<Integer> special = specialIds(dir, tj);
        List<String> tokens = new ArrayList<>();
        List<Float> scores = new ArrayList<>();
        List<Integer> types = new ArrayList<>();
        for (int id = 0; id < base; id++) {
            String text = reverse.get(id);
            if (text == null) throw new FormatException(tj.file(), "model.vocab has no token with id " + id + " (ids must be 0.." + (base - 1) + ")");
            tokens.add(text);
            scores.add(-1000f);
            types.add(BYTE_TOKEN.matcher(text).matches() ? TokenType.BYTE.id()
                    : special.contains(id) ? TokenType.CONTROL.id() : TokenType.NORMAL.id());
        }
        int expect = base;
        for (var e : beyond.entrySet()) {
            if (e.getKey() != expect) throw new FormatException(tj.file(), "added token ids beyond the vocabulary are not contiguous: expected " + expect + ", found " + e.getKey());
            expect++;
            tokens.add(e.getValue().content());
            scores.add(-1000f);
            types.add(special.contains(e.getKey()) ? TokenType.CONTROL.id() : TokenType.USER_DEFINED.id());
        }
        float[] s = new float[tokens.size()];
        int[] t = new int[tokens.size()];
        for (int i = 0; i < s.length; i++) {
            s[i] = scores.get(i);
            t[i] = VISIBLE_TOKENS.contains(tokens.get(i)) ? TokenType.USER_DEFINED.id() : types.get(i);
        }
        return new VocabularyTables(tokens, s, t);
    }

    private static Set<Integer> specialIds(Path dir, HfTokenizerJson tj) throws IOException {
        Set<Integer> ids = new HashSet<>();
        Map<String, Integer> byContent = new HashMap<>(tj.vocab());
        for (HfTokenizerJson.AddedToken a : tj.addedTokens()) {
            byContent.put(a.content(), a.id());
            if (a.special()) ids.add(a.id());
        }
        Path configFile = dir.resolve("tokenizer_config.json");
        if (InputFiles.present(configFile, "tokenizer config")) {
            JsonNode tc = SpecialVocab.readJson(configFile);
            for (String typ : SpecialVocab.DEFAULT_TYPES) addContent(tc.get(typ + "_token"), byContent, ids);
            for (String list : List.of("additional_special_tokens", "extra_special_tokens")) {
                JsonNode l = tc.get(list);
                if (l != null && l.isArray()) for (JsonNode x : l) addContent(x, byContent, ids);
                if (l != null && l.isObject()) for (var e : l.properties()) addContent(e.getValue(), byContent, ids);
            }
        }
        return ids;
    }

    private static void addContent(JsonNode entry, Map<String, Integer> byContent, Set<Integer> ids) {
        if (entry == null) return;
        String content = entry.isTextual() ? entry.asText() : entry.path("content").isTextual() ? entry.get("content").asText() : null;
        if (content != null && byContent.containsKey(content)) ids.add(byContent.get(content));
    }
}
