package dev.requant.formats.tokenizer;

import dev.requant.formats.gguf.GgufArray;
import dev.requant.formats.gguf.GgufKeys;
import dev.requant.formats.gguf.GgufMetadata;
import dev.requant.formats.gguf.GgufValueType;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Collections;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeSet;

/**
 * A vocabulary as llama.cpp loads it from GGUF metadata (src/llama-vocab.cpp {@code llama_vocab::impl::load}):
 * tokens with llama_token_attr flags (from token_type, then the text-based fix-ups llama.cpp applies: EOT/EOG/FIM
 * tokens become CONTROL, CONTROL tokens named "unused" become UNUSED, the gpt-oss and gemma4 EOG workarounds), the
 * special ids with their per-model defaults, the add-bos/eos and space-prefix flags, BPE merge ranks, and the special
 * token cache used to split text before tokenizing.
 *
 * <p>Token texts are held as "byte strings": the UTF-8 bytes of each token in a Latin-1 {@link String}, one char per
 * byte, so lookups compare bytes exactly as llama.cpp's std::string keys do.
 *
 * <p>Only the two vocabularies Gemma uses are supported: "llama" (SentencePiece) and "gemma4" (BPE). llama.cpp's
 * model-name hacks (phi-3, jina, modern-bert strip flags) are not reproduced.
 */
public final class LlamaVocab {
    /** llama_token_attr bits (llama.h). */
    public static final int ATTR_UNDEFINED = 0, ATTR_UNKNOWN = 1, ATTR_UNUSED = 1 << 1, ATTR_NORMAL = 1 << 2,
            ATTR_CONTROL = 1 << 3, ATTR_USER_DEFINED = 1 << 4, ATTR_BYTE = 1 << 5, ATTR_NORMALIZED = 1 << 6,
            ATTR_LSTRIP = 1 << 7, ATTR_RSTRIP = 1 << 8, ATTR_SINGLE_WORD = 1 << 9;
    public static final int NULL_TOKEN = -1;

    /** The two tokenizer families llama.cpp runs for Gemma. */
    public enum Type { SPM, BPE_GEMMA4 }

    private final Type type;
    private final String tokenizerModel;
    private final String[] text;      // byte strings
    private final float[] scores;
    private final int[] attrs;
    private final Map<String, Integer> tokenToId;
    private final Map<List<String>, Integer> bpeRanks;
    private final int maxTokenLength;
    private int bos, eos, eot, eom, unk, sep, pad, mask;
    private boolean addBos, addEos, addSpacePrefix, escapeWhitespaces;
    private final Set<Integer> eog = new TreeSet<>();
    private final int[] specialCache;

    private LlamaVocab(GgufMetadata md) {
        tokenizerModel = md.getString(GgufKeys.Tokenizer.MODEL)
                .orElseThrow(() -> new IllegalArgumentException("GGUF has no " + GgufKeys.Tokenizer.MODEL));
        switch (tokenizerModel) {
            case "llama" -> {
                type = Type.SPM;
                bos = 1; eos = 2; unk = 0; sep = NULL_TOKEN; pad = NULL_TOKEN; mask = NULL_TOKEN;
                addSpacePrefix = true;
                addBos = true;
                addEos = false;
                escapeWhitespaces = true;
            }
            case "gemma4" -> {
                type = Type.BPE_GEMMA4;
                bos = eos = unk = sep = pad = mask = NULL_TOKEN;
                // BPE defaults, then the "gemma4" pre-tokenizer switches whitespace escaping on
                addSpacePrefix = false;
                escapeWhitespaces = true;
            }
            default -> throw new IllegalArgumentException("tokenizer model '" + tokenizerModel
                    + "' is not supported (requant encodes the \"llama\" SentencePiece and \"gemma4\" BPE vocabularies)");
        }
        eot = eom = NULL_TOKEN;
        md.getBool(GgufKeys.Tokenizer.ADD_SPACE_PREFIX).ifPresent(v -> addSpacePrefix = v);

        VocabularyTables t = GgufVocabulary.readTables(md);
        int n = t.size();
        text = new String[n];
        scores = t.scores();
        attrs = new int[n];
        tokenToId = new HashMap<>(n * 2);
        int maxLen = 0;
        for (int i = 0; i < n; i++) {
            String word = t.tokens().get(i);
            if (word.isEmpty()) word = "[EMPTY_" + i + "]";
            String b = bytes(word);
            Integer prev = tokenToId.putIfAbsent(b, i);
            if (prev != null) throw new IllegalArgumentException("duplicate token in vocabulary: '" + word + "' has ids " + prev + " and " + i);
            maxLen = Math.max(maxLen, b.length());
            text[i] = b;
            attrs[i] = switch (TokenType.byId(t.types()[i]).orElse(TokenType.UNDEFINED)) {
                case UNKNOWN -> ATTR_UNKNOWN;
                case UNUSED -> ATTR_UNUSED;
                case NORMAL -> ATTR_NORMAL;
                case CONTROL -> ATTR_CONTROL;
                case USER_DEFINED -> ATTR_USER_DEFINED;
                case BYTE -> ATTR_BYTE;
                case UNDEFINED -> ATTR_UNDEFINED;
            };
        }
        maxTokenLength = maxLen;

        if (type == Type.BPE_GEMMA4) {
            GgufArray merges = md.getArray(GgufKeys.Tokenizer.MERGES)
                    .orElseThrow(() -> new IllegalArgumentException("cannot find tokenizer merges in model file"));
            if (merges.elementType() != GgufValueType.STRING) throw new IllegalArgumentException("invalid gguf type for " + GgufKeys.Tokenizer.MERGES);
            bpeRanks = new HashMap<>(merges.length() * 2);
            String[] m = merges.strings();
            for (int i = 0; i < m.length; i++) {
                String w = bytes(m[i]);
                int pos = w.indexOf(' ', 1);
                List<String> key = pos >= 0 ? List.of(w.substring(0, pos), w.substring(pos + 1)) : List.of("", "");
                bpeRanks.putIfAbsent(key, i); // std::unordered_map::emplace keeps the first
            }
        } else {
            bpeRanks = Map.of();
        }

        bos = specialId(md, GgufKeys.Tokenizer.BOS_ID, bos);
        eos = specialId(md, GgufKeys.Tokenizer.EOS_ID, eos);
        eot = specialId(md, GgufKeys.Tokenizer.EOT_ID, eot);
        eom = specialId(md, GgufKeys.Tokenizer.EOM_ID, eom);
        unk = specialId(md, GgufKeys.Tokenizer.UNK_ID, unk);
        sep = specialId(md, GgufKeys.Tokenizer.SEP_ID, sep);
        pad = specialId(md, GgufKeys.Tokenizer.PAD_ID, pad);
        mask = specialId(md, GgufKeys.Tokenizer.MASK_ID, mask);
        md.getBool(GgufKeys.Tokenizer.ADD_BOS).ifPresent(v -> addBos = v);
        md.getBool(GgufKeys.Tokenizer.ADD_EOS).ifPresent(v -> addEos = v);
        if (type == Type.BPE_GEMMA4) addBos = true; // llama.cpp PR 21500: always true for Gemma 4
        if (addBos && bos == NULL_TOKEN) throw new IllegalArgumentException(GgufKeys.Tokenizer.ADD_BOS + " is true, but " + GgufKeys.Tokenizer.BOS_ID + " is not set");
        if (addEos && eos == NULL_TOKEN) throw new IllegalArgumentException(GgufKeys.Tokenizer.ADD_EOS + " is true, but " + GgufKeys.Tokenizer.EOS_ID + " is not set");

        detectSpecialTokens();
        specialCache = buildSpecialCache();
    }

    public static LlamaVocab fromMetadata(GgufMetadata md) {
        return new LlamaVocab(md);
    }

    /** A Java string as a byte string (its UTF-8 bytes, one Latin-1 char each). */
    static String bytes(String s) {
        return new String(s.getBytes(StandardCharsets.UTF_8), StandardCharsets.ISO_8859_1);
    }

    private int specialId(GgufMetadata md, String key, int def) {
        if (def >= 0 && def >= text.length) def = NULL_TOKEN; // default out of vocab range: disabled
        var v = md.getLong(key);
        if (v.isEmpty()) return def;
        long id = v.get();
        return id >= 0 && id < text.length ? (int) id : def;
    }

    private static final List<String> EOT_TEXTS = List.of("<|eot_id|>", "<|im_end|>", "<|end|>", "<end_of_turn>", "<|endoftext|>",
            "<|end_of_text|>", "<EOT>", "_<EOT>", "[EOT]", "<\uFF5Cend\u2581of\u2581sentence\uFF5C>", "<end_of_utterance>");
    private static final List<String> EOM_TEXTS = List.of("<|eom_id|>");
    private static final List<String> FIM_PRE = List.of("<|fim_prefix|>", "<fim-prefix>", "<fim_prefix>", "<\uFF5Cfim\u2581begin\uFF5C>", "<PRE>", "\u2581<PRE>", "<|code_prefix|>", "<|prefix|>");
    private static final List<String> FIM_SUF = List.of("<|fim_suffix|>", "<fim-suffix>", "<fim_suffix>", "<\uFF5Cfim\u2581hole\uFF5C>", "<SUF>", "\u2581<SUF>", "<|code_suffix|>", "<|suffix|>");
    private static final List<String> FIM_MID = List.of("<|fim_middle|>", "<fim-middle>", "<fim_middle>", "<\uFF5Cfim\u2581end\uFF5C>", "<MID>", "\u2581<MID>", "<|code_middle|>", "<|middle|>");
    private static final List<String> FIM_PAD = List.of("<|fim_pad|>", "<fim-pad>", "<fim_pad>", "<PAD>", "[PAD]");
    private static final List<String> FIM_REP = List.of("<|fim_repo|>", "<|repo_name|>", "<fim-repo>", "<REPO>", "<reponame>");
    private static final List<String> FIM_SEP = List.of("<|file_sep|>");
    private static final List<String> EOG_TEXTS = List.of("<|eot_id|>", "<|im_end|>", "<|end|>", "<|return|>", "<|call|>", "<|flush|>",
            "<|calls|>", "<end_of_turn>", "<|endoftext|>", "</s>", "<|eom_id|>", "<EOT>", "_<EOT>", "[EOT]", "[EOS]", "<|end_of_text|>",
            "<end_of_utterance>", "<eos>", "<turn|>", "<|tool_response>", "<\uFF5Cend\u2581of\u2581sentence\uFF5C>", "[e~[");

    /**
     * The text-based fix-ups of llama_vocab::impl::load. llama.cpp walks an unordered_map, so when several candidates
     * of one kind exist the one it picks is hash-order dependent; here the lowest id wins.
     */
    private void detectSpecialTokens() {
        eot = detect(eot, EOT_TEXTS);
        eom = detect(eom, EOM_TEXTS);
        int fimPre = detect(NULL_TOKEN, FIM_PRE), fimSuf = detect(NULL_TOKEN, FIM_SUF), fimMid = detect(NULL_TOKEN, FIM_MID);
        int fimPad = detect(NULL_TOKEN, FIM_PAD), fimRep = detect(NULL_TOKEN, FIM_REP), fimSep = detect(NULL_TOKEN, FIM_SEP);
        for (int i = 0; i < text.length; i++) {
            if ((attrs[i] & ATTR_CONTROL) != 0 && (attrs[i] & ATTR_UNUSED) == 0 && text[i].contains("unused")) attrs[i] |= ATTR_UNUSED;
        }
        for (int id : new int[] {fimPad, fimRep, fimSep}) if (id != NULL_TOKEN) eog.add(id);
        for (String s : EOG_TEXTS) {
            Integer id = tokenToId.get(bytes(s));
            if (id != null) {
                eog.add(id);
                attrs[id] |= ATTR_CONTROL;
            }
        }
        for (String s : List.of("<|channel|>", "<|message|>", "<|start|>", "<|constrain|>")) {
            Integer id = tokenToId.get(bytes(s));
            if (id != null) attrs[id] = ATTR_USER_DEFINED;
        }
        if (eos != NULL_TOKEN) eog.add(eos);
        if (eot != NULL_TOKEN) eog.add(eot);
        if (eom != NULL_TOKEN) eog.add(eom);
        boolean hasReturn = false, hasCall = false, hasFlush = false;
        int endId = NULL_TOKEN;
        for (int id : eog) {
            String s = text[id];
            if (s.equals("<|return|>")) hasReturn = true;
            else if (s.equals("<|call|>") || s.equals("<|calls|>")) hasCall = true;
            else if (s.equals("<|flush|>")) hasFlush = true;
            else if (s.equals("<|end|>")) endId = id;
        }
        if (endId != NULL_TOKEN && ((hasReturn && hasCall) || (hasCall && hasFlush))) {
            eog.remove(endId);
            attrs[endId] = ATTR_USER_DEFINED;
        }
        int sId = NULL_TOKEN;
        boolean hasToolResponse = false;
        for (int id : eog) {
            if (text[id].equals(bytes("<|tool_response>"))) hasToolResponse = true;
            else if (text[id].equals("</s>")) sId = id;
        }
        if (hasToolResponse && sId != NULL_TOKEN) {
            eog.remove(sId);
            attrs[sId] = ATTR_NORMAL;
        }
    }

    private int detect(int current, List<String> candidates) {
        if (current != NULL_TOKEN) return current;
        int best = NULL_TOKEN;
        for (String s : candidates) {
            Integer id = tokenToId.get(bytes(s));
            if (id != null && (best == NULL_TOKEN || id < best)) best = id;
        }
        if (best != NULL_TOKEN) attrs[best] |= ATTR_CONTROL;
        return best;
    }

    /** CONTROL, USER_DEFINED and UNKNOWN tokens, longest text first (llama.cpp sorts with an unstable sort; ties by id here). */
    private int[] buildSpecialCache() {
        List<Integer> ids = new ArrayList<>();
        for (int i = 0; i < text.length; i++) if ((attrs[i] & (ATTR_CONTROL | ATTR_USER_DEFINED | ATTR_UNKNOWN)) != 0) ids.add(i);
        ids.sort((a, b) -> text[a].length() != text[b].length() ? Integer.compare(text[b].length(), text[a].length()) : Integer.compare(a, b));
        return ids.stream().mapToInt(Integer::intValue).toArray();
    }

    public Type type() { return type; }

    /** The tokenizer.ggml.model string. */
    public String tokenizerModel() { return tokenizerModel; }

    public int size() { return text.length; }

    /** The token's text as a Java string. */
    public String tokenText(int id) {
        return new String(text[id].getBytes(StandardCharsets.ISO_8859_1), StandardCharsets.UTF_8);
    }

    String byteText(int id) { return text[id]; }

    public float score(int id) { return scores[id]; }

    /** llama_token_attr flags of a token. */
    public int attr(int id) { return attrs[id]; }

    /** The id of a token text, or {@link #NULL_TOKEN}. */
    public int tokenId(String tokenText) {
        return textToToken(bytes(tokenText));
    }

    int textToToken(String byteString) {
        Integer id = tokenToId.get(byteString);
        return id == null ? NULL_TOKEN : id;
    }

    /** BPE merge rank of a pair of byte strings, or -1. */
    int bpeRank(String left, String right) {
        Integer r = bpeRanks.get(List.of(left, right));
        return r == null ? -1 : r;
    }

    int[] specialCache() { return specialCache; }

    public int maxTokenLength() { return maxTokenLength; }

    public int bos() { return bos; }
    public int eos() { return eos; }
    public int eot() { return eot; }
    public int unk() { return unk; }
    public int pad() { return pad; }
    public int sep() { return sep; }
    public int mask() { return mask; }
    public boolean addBos() { return addBos; }
    public boolean addEos() { return addEos; }
    public boolean addSpacePrefix() { return addSpacePrefix; }
    boolean escapeWhitespaces() { return escapeWhitespaces; }

    /** Whether the token ends generation (llama_vocab_is_eog). */
    public boolean isEog(int id) { return eog.contains(id); }

    public Set<Integer> eogIds() { return Collections.unmodifiableSet(eog); }

    /** llama_vocab::byte_to_token for SPM: "&lt;0xXX&gt;", else the single byte as a token; -1 when neither exists. */
    int byteToTokenSpm(int b) {
        int id = textToToken(hexByte(b));
        if (id != NULL_TOKEN) return id;
        return textToToken(String.valueOf((char) (b & 0xFF)));
    }

    static String hexByte(int b) {
        return "<0x" + HEX[(b >> 4) & 15] + HEX[b & 15] + ">";
    }

    private static final char[] HEX = "0123456789ABCDEF".toCharArray();

    /**
     * The UTF-8 bytes a token stands for (llama_vocab::impl::token_to_piece without lstrip): empty for control and
     * unknown tokens unless {@code special}; "▁" turned back into spaces for normal tokens; one byte for byte tokens.
     */
    public byte[] tokenToPiece(int id, boolean special) {
        int a = attrs[id];
        if (!special && (a & (ATTR_UNKNOWN | ATTR_CONTROL)) != 0) return new byte[0];
        String t = text[id];
        if ((a & (ATTR_UNKNOWN | ATTR_CONTROL | ATTR_USER_DEFINED)) != 0) return t.getBytes(StandardCharsets.ISO_8859_1);
        if ((a & ATTR_NORMAL) != 0) return t.replace(ESCAPED_SPACE, " ").getBytes(StandardCharsets.ISO_8859_1);
        if ((a & ATTR_BYTE) != 0) return new byte[] {(byte) Integer.parseInt(t.substring(3, 5), 16)};
        return new byte[0];
    }

    /** U+2581 as a byte string. */
    static final String ESCAPED_SPACE = bytes("\u2581");

    @Override
    public String toString() {
        return "LlamaVocab[" + tokenizerModel + ", " + text.length + " tokens, bos " + bos + ", eos " + eos + ", specials "
                + Arrays.stream(specialCache).count() + "]";
    }
}
