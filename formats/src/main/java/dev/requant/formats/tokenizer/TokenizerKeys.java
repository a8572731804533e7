package dev.requant.formats.tokenizer;

import dev.requant.formats.gguf.GgufArray;
import dev.requant.formats.gguf.GgufMetadata;
import dev.requant.formats.gguf.GgufValue;
import dev.requant.formats.gguf.GgufValueType;
import java.util.List;

/**
 * The GGUF {@code tokenizer.*} keys (gguf-py constants.py Keys.Tokenizer, llama-arch.cpp LLM_KV_TOKENIZER_*), and
 * writers that emit them in convert_hf_to_gguf.py's order for the two vocabularies Gemma uses.
 */
public final class TokenizerKeys {
    private TokenizerKeys() {}

    public static final String MODEL = "tokenizer.ggml.model";
    public static final String PRE = "tokenizer.ggml.pre";
    public static final String TOKENS = "tokenizer.ggml.tokens";
    public static final String SCORES = "tokenizer.ggml.scores";
    public static final String TOKEN_TYPE = "tokenizer.ggml.token_type";
    public static final String MERGES = "tokenizer.ggml.merges";
    public static final String BOS_ID = "tokenizer.ggml.bos_token_id";
    public static final String EOS_ID = "tokenizer.ggml.eos_token_id";
    public static final String EOT_ID = "tokenizer.ggml.eot_token_id";
    public static final String EOM_ID = "tokenizer.ggml.eom_token_id";
    public static final String UNK_ID = "tokenizer.ggml.unknown_token_id";
    public static final String SEP_ID = "tokenizer.ggml.seperator_token_id";
    public static final String PAD_ID = "tokenizer.ggml.padding_token_id";
    public static final String MASK_ID = "tokenizer.ggml.mask_token_id";
    public static final String ADD_BOS = "tokenizer.ggml.add_bos_token";
    public static final String ADD_EOS = "tokenizer.ggml.add_eos_token";
    public static final String ADD_SEP = "tokenizer.ggml.add_sep_token";
    public static final String ADD_SPACE_PREFIX = "tokenizer.ggml.add_space_prefix";
    public static final String REMOVE_EXTRA_WS = "tokenizer.ggml.remove_extra_whitespaces";
    public static final String SUPPRESS_TOKENS = "tokenizer.ggml.suppress_tokens";
    public static final String CHAT_TEMPLATE = "tokenizer.chat_template";

    /**
     * The SentencePiece ("llama") vocabulary as Gemma3Model.set_vocab writes it: _set_vocab_sentencepiece (model,
     * pre "default", tokens, scores, types, special vocab) followed by add_space_prefix = false.
     */
    public static void writeSentencePiece(GgufMetadata md, VocabularyTables t, SpecialVocab special) {
        md.put(MODEL, GgufValue.string("llama"));
        md.put(PRE, GgufValue.string("default"));
        writeTables(md, t);
        special.writeTo(md);
        md.put(ADD_SPACE_PREFIX, GgufValue.bool(false));
    }

    /**
     * The "gemma4" BPE vocabulary as Gemma4Model.set_vocab writes it: model, tokens, scores, types (no pre: the
     * runtime sets it), special vocab with merges, add_space_prefix = false, add_bos_token = true.
     */
    public static void writeGemma4(GgufMetadata md, VocabularyTables t, SpecialVocab special) {
        md.put(MODEL, GgufValue.string("gemma4"));
        writeTables(md, t);
        special.writeTo(md);
        md.put(ADD_SPACE_PREFIX, GgufValue.bool(false));
        md.put(ADD_BOS, GgufValue.bool(true));
    }

    private static void writeTables(GgufMetadata md, VocabularyTables t) {
        md.put(TOKENS, GgufValue.array(GgufArray.ofStrings(t.tokens().toArray(String[]::new))));
        md.put(SCORES, GgufValue.array(GgufArray.ofFloat32(t.scores().clone())));
        md.put(TOKEN_TYPE, GgufValue.array(new GgufArray(GgufValueType.INT32, t.types().clone())));
    }

    /** Reads the token tables back from GGUF metadata (scores default to 0, types to NORMAL when absent). */
    public static VocabularyTables readTables(GgufMetadata md) {
        GgufArray tok = md.getArray(TOKENS).filter(a -> a.elementType() == GgufValueType.STRING)
                .orElseThrow(() -> new IllegalArgumentException("GGUF has no " + TOKENS + " string array"));
        int n = tok.length();
        float[] scores = new float[n];
        md.getArray(SCORES).ifPresent(a -> {
            if (a.length() < n) throw new IllegalArgumentException(SCORES + " has " + a.length() + " entries for " + n + " tokens");
            if (a.elementType() == GgufValueType.FLOAT32) System.arraycopy(a.floats(), 0, scores, 0, n);
            else if (a.elementType() == GgufValueType.INT32) for (int i = 0; i < n; i++) scores[i] = a.ints()[i];
            else throw new IllegalArgumentException(SCORES + " must be FLOAT32 or INT32, is " + a.elementType());
        });
        int[] types = new int[n];
        java.util.Arrays.fill(types, TokenType.NORMAL.id());
        md.getArray(TOKEN_TYPE).ifPresent(a -> {
            if (a.elementType() != GgufValueType.INT32) throw new IllegalArgumentException(TOKEN_TYPE + " must be INT32, is " + a.elementType());
            if (a.length() < n) throw new IllegalArgumentException(TOKEN_TYPE + " has " + a.length() + " entries for " + n + " tokens");
            System.arraycopy(a.ints(), 0, types, 0, n);
        });
        return new VocabularyTables(List.of(tok.strings()), scores, types);
    }
}
