package dev.requant.converter.export;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.SerializationFeature;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.requant.formats.FormatException;
import dev.requant.formats.gguf.GgufArray;
import dev.requant.formats.gguf.GgufTensors;
import dev.requant.formats.gguf.GgufMetadata;
import dev.requant.formats.gguf.GgufValue;
import dev.requant.formats.gguf.GgufValueType;
import dev.requant.formats.tokenizer.Gemma4Vocab;
import dev.requant.formats.tokenizer.SentencePieceModel;
import dev.requant.formats.tokenizer.TokenType;
import dev.requant.formats.gguf.GgufKeys;
import dev.requant.formats.tokenizer.VocabularyTables;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.regex.Pattern;

/**
 * The tokenizer files of an exported model, made from the GGUF's {@code tokenizer.*} keys so that converting the
 * folder back (SentencePieceVocab / Gemma4Vocab / SpecialVocab, as convert_hf_to_gguf.py reads them) gives the same
 * keys:
 * <ul>
 *   <li>"llama" (SentencePiece) vocabularies: {@code tokenizer.model} with one piece per token (trailing "[PADi]"
 *       slots, which the converter makes up to vocab_size, left out), user-defined tokens in
 *       {@code added_tokens.json}; pieces the converter turned from USER_DEFINED into NORMAL (score +0.0, which
 *       BPE-trained pieces never have) are USER_DEFINED again, so sentencepiece matches them whole;</li>
 *   <li>"gemma4" (BPE) vocabularies: {@code tokenizer.json} with the vocabulary, the merges and the control and
 *       user-defined tokens as added tokens;</li>
 *   <li>both: {@code tokenizer_config.json} with the special tokens, add_bos/add_eos and the chat template(s).</li>
 * </ul>
 * What a GGUF cannot say about the original tokenizer (SentencePiece normalizer rules, a tokenizer.json
 * pre-tokenizer) is set to what llama.cpp does with the vocabulary: no normalization, spaces as U+2581.
 */
final class TokenizerFiles {
    private static final ObjectMapper JSON = new ObjectMapper().enable(SerializationFeature.INDENT_OUTPUT);
    private static final Pattern BYTE_TOKEN = Pattern.compile("<0x[0-9A-Fa-f]{2}>");
    /** GGUF special-id keys in SpecialVocab's type order. */
    private static final Map<String, String> ID_KEYS = new LinkedHashMap<>();

    static {
        ID_KEYS.put("bos", GgufKeys.Tokenizer.BOS_ID);
        ID_KEYS.put("eos", GgufKeys.Tokenizer.EOS_ID);
        ID_KEYS.put("unk", GgufKeys.Tokenizer.UNK_ID);
        ID_KEYS.put("sep", GgufKeys.Tokenizer.SEP_ID);
        ID_KEYS.put("pad", GgufKeys.Tokenizer.PAD_ID);
        ID_KEYS.put("mask", GgufKeys.Tokenizer.MASK_ID);
    }

    /**
     * @param files file name to contents, in write order
     * @param tokens the vocabulary size (config.json's vocab_size)
     * @param specialIds the special token ids by type (bos, eos, ...), for config.json
     * @param notes what could not be written so that the GGUF keys come back exactly
     */
    record Result(Map<String, byte[]> files, int tokens, Map<String, Integer> specialIds, List<String> notes) {}

    private TokenizerFiles() {}

    static Result of(GgufTensors gguf) throws FormatException {
        GgufMetadata md = gguf.metadata();
        String model = md.getString(GgufKeys.Tokenizer.MODEL).orElseThrow(() -> new FormatException(gguf.path(), "has no " + GgufKeys.Tokenizer.MODEL));
        VocabularyTables t;
        try {
            t = dev.requant.formats.tokenizer.GgufVocabulary.readTables(md);
        } catch (IllegalArgumentException e) {
            throw new FormatException(gguf.path(), e.getMessage());
        }
        Map<String, Integer> ids = new LinkedHashMap<>();
        for (var e : ID_KEYS.entrySet()) {
            GgufValue v = md.get(e.getValue()).orElse(null);
            if (v == null) continue;
            if (!v.type().isInteger() || v.asLong() < 0 || v.asLong() >= t.size()) {
                throw new FormatException(gguf.path(), e.getValue() + " is " + v.value() + ", not a token id below " + t.size());
            }
            ids.put(e.getKey(), (int) v.asLong());
        }
        List<String> notes = new ArrayList<>();
        Map<String, byte[]> files = new LinkedHashMap<>();
        switch (model) {
            case "llama" -> sentencePiece(t, ids, files, notes);
            case "gemma4" -> gemma4(md, t, files, notes);
            default -> throw new FormatException(gguf.path(), GgufKeys.Tokenizer.MODEL + " is '" + model + "'; Gemma exports write the 'llama' (SentencePiece) or 'gemma4' (BPE) vocabulary");
        }
        files.put("tokenizer_config.json", json(tokenizerConfig(md, t, ids, model.equals("gemma4"))));
        return new Result(files, t.size(), ids, notes);
    }

    private static void sentencePiece(VocabularyTables t, Map<String, Integer> ids, Map<String, byte[]> files, List<String> notes) {
        int n = t.size();
        while (n > 0 && t.tokens().get(n - 1).equals("[PAD" + (n - 1) + "]") && t.types()[n - 1] == TokenType.UNUSED.id()
                && t.scores()[n - 1] == -10000f) n--;
        List<SentencePieceModel.Piece> pieces = new ArrayList<>(n);
        ObjectNode added = JSON.createObjectNode();
        boolean bytes = false;
        int unk = ids.getOrDefault("unk", -1);
        for (int i = 0; i < n; i++) {
            String text = t.tokens().get(i);
            float score = t.scores()[i];
            TokenType type = TokenType.byId(t.types()[i]).orElse(TokenType.NORMAL);
            switch (type) {
                case NORMAL, UNDEFINED -> type = Float.floatToRawIntBits(score) == 0 ? TokenType.USER_DEFINED : TokenType.NORMAL;
                case USER_DEFINED -> {
                    if (score == -1000f) added.put(text, i);
                    else notes.add("token " + i + " '" + text + "' is user-defined with score " + score + "; it converts back as a normal token");
                }
                case BYTE -> bytes = true;
                case UNKNOWN -> { if (unk < 0) unk = i; }
                default -> { }
            }
            pieces.add(new SentencePieceModel.Piece(text, score, type));
        }
        var trainer = new SentencePieceModel.TrainerSpec(SentencePieceModel.TrainerSpec.BPE, n, false, bytes, Math.max(unk, 0),
                ids.getOrDefault("bos", -1), ids.getOrDefault("eos", -1), ids.getOrDefault("pad", -1));
        var normalizer = new SentencePieceModel.NormalizerSpec("identity", false, false, true);
        files.put("tokenizer.model", new SentencePieceModel(pieces, trainer, normalizer).toBytes());
        if (!added.isEmpty()) files.put("added_tokens.json", json(added));
    }

    private static void gemma4(GgufMetadata md, VocabularyTables t, Map<String, byte[]> files, List<String> notes) {
        int n = t.size();
        int[] types = t.types();
        // the vocabulary proper ends after the last token that is neither control nor user-defined; the rest are
        // added tokens beyond it, where Gemma4Vocab makes the non-special ones USER_DEFINED
        int base = n;
        while (base > 0 && (types[base - 1] == TokenType.CONTROL.id() || types[base - 1] == TokenType.USER_DEFINED.id())) base--;
        Set<String> seen = new HashSet<>();
        ObjectNode vocab = JSON.createObjectNode();
        ArrayNode addedTokens = JSON.createArrayNode();
        String unkToken = null;
        for (int i = 0; i < n; i++) {
            String text = t.tokens().get(i);
            int type = types[i];
            if (t.scores()[i] != -1000f) notes.add("token " + i + " has score " + t.scores()[i] + "; the gemma4 vocabulary gives every token -1000");
            boolean visible = Gemma4Vocab.VISIBLE_TOKENS.contains(text);
            boolean isByte = BYTE_TOKEN.matcher(text).matches();
            if (type == TokenType.BYTE.id() && !isByte) notes.add("token " + i + " '" + text + "' is a byte token but not <0xXX>; it converts back as a normal token");
            if (type == TokenType.NORMAL.id() && isByte) notes.add("token " + i + " '" + text + "' looks like a byte token; it converts back as one");
            if (type == TokenType.USER_DEFINED.id() && i < base && !visible) notes.add("token " + i + " '" + text + "' is user-defined inside the vocabulary; it converts back as a normal token");
            if (type == TokenType.UNKNOWN.id() && unkToken == null) unkToken = text;
            boolean duplicate = !seen.add(text);
            if (i < base && !duplicate) vocab.put(text, i);
            boolean control = type == TokenType.CONTROL.id();
            if (control || i >= base || duplicate) {
                addedTokens.addObject().put("id", i).put("content", text).put("single_word", false).put("lstrip", false)
                        .put("rstrip", false).put("normalized", false).put("special", control);
            }
        }
        ObjectNode root = JSON.createObjectNode();
        root.put("version", "1.0");
        root.putNull("truncation");
        root.putNull("padding");
        root.set("added_tokens", addedTokens);
        ObjectNode norm = root.putObject("normalizer");
        norm.put("type", "Replace");
        norm.putObject("pattern").put("String", " ");
        norm.put("content", "\u2581");
        root.putNull("pre_tokenizer");
        root.putNull("post_processor");
        ObjectNode dec = root.putObject("decoder");
        dec.put("type", "Sequence");
        ArrayNode decs = dec.putArray("decoders");
        ObjectNode rep = decs.addObject().put("type", "Replace");
        rep.putObject("pattern").put("String", "\u2581");
        rep.put("content", " ");
        decs.addObject().put("type", "ByteFallback");
        decs.addObject().put("type", "Fuse");
        ObjectNode m = root.putObject("model");
        m.put("type", "BPE");
        m.putNull("dropout");
        if (unkToken != null) m.put("unk_token", unkToken);
        else m.putNull("unk_token");
        m.putNull("continuing_subword_prefix");
        m.putNull("end_of_word_suffix");
        m.put("fuse_unk", true);
        m.put("byte_fallback", true);
        m.put("ignore_merges", false);
        m.set("vocab", vocab);
        ArrayNode merges = m.putArray("merges");
        // gguf-py joined each pair with one space (spaces inside a part became U+0120), so the first space splits it
        md.getArray(GgufKeys.Tokenizer.MERGES).filter(a -> a.elementType() == GgufValueType.STRING).ifPresent(a -> {
            for (String s : a.strings()) {
                int sp = s.indexOf(' ');
                if (sp < 0) merges.add(s);
                else merges.addArray().add(s.substring(0, sp)).add(s.substring(sp + 1));
            }
        });
        files.put("tokenizer.json", json(root));
    }

    /**
     * add_bos/add_eos, the special tokens by text and the chat template(s). For the BPE vocabulary a special token
     * is named only when it is a control token, since Gemma4Vocab makes every named token a control token.
     */
    private static ObjectNode tokenizerConfig(GgufMetadata md, VocabularyTables t, Map<String, Integer> ids, boolean bpe) {
        ObjectNode tc = JSON.createObjectNode();
        md.getBool(GgufKeys.Tokenizer.ADD_BOS).ifPresent(b -> tc.put("add_bos_token", b));
        md.getBool(GgufKeys.Tokenizer.ADD_EOS).ifPresent(b -> tc.put("add_eos_token", b));
        Set<String> named = bpe ? foundInAddedTokens(md) : Set.copyOf(ids.keySet());
        for (var e : ids.entrySet()) {
            int id = e.getValue();
            if (!named.contains(e.getKey()) || (bpe && t.types()[id] != TokenType.CONTROL.id())) continue;
            tc.put(e.getKey() + "_token", t.tokens().get(id));
        }
        String single = md.getString(GgufKeys.Tokenizer.CHAT_TEMPLATE).orElse(null);
        GgufArray names = md.getArray("tokenizer.chat_templates").orElse(null);
        if (names != null && names.elementType() == GgufValueType.STRING) {
            ArrayNode list = tc.putArray("chat_template");
            if (single != null) list.addObject().put("name", "default").put("template", single);
            for (String name : names.strings()) {
                md.getString("tokenizer.chat_template." + name).ifPresent(tpl -> list.addObject().put("name", name).put("template", tpl));
            }
        } else if (single != null) {
            tc.put("chat_template", single);
        }
        return tc;
    }

    /**
     * The special types SpecialVocab found by their tokenizer_config.json text among tokenizer.json's added tokens:
     * it looks those up first and takes the rest from config.json, each pass in type order, and the GGUF keeps the
     * order it found them in. So the GGUF's order is two runs in type order, and the first run is the one named in
     * tokenizer_config.json (the other types are left out there, so config.json's ids are used for them, in order).
     */
    private static Set<String> foundInAddedTokens(GgufMetadata md) {
        List<String> order = new ArrayList<>(ID_KEYS.keySet());
        List<String> found = new ArrayList<>();
        for (String key : md.keys()) {
            for (var e : ID_KEYS.entrySet()) if (e.getValue().equals(key)) found.add(e.getKey());
        }
        int split = 1;
        while (split < found.size() && order.indexOf(found.get(split)) > order.indexOf(found.get(split - 1))) split++;
        return Set.copyOf(found.subList(0, Math.min(split, found.size())));
    }

    static byte[] json(Object node) {
        try {
            return (JSON.writeValueAsString(node) + "\n").getBytes(StandardCharsets.UTF_8);
        } catch (com.fasterxml.jackson.core.JsonProcessingException e) {
            throw new IllegalStateException(e);
        }
    }
}
