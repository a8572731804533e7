package dev.requant.formats.tokenizer;

import dev.requant.formats.gguf.GgufArray;
import dev.requant.formats.gguf.GgufKeys;
import dev.requant.formats.gguf.GgufMetadata;
import dev.requant.formats.gguf.GgufValue;
import dev.requant.formats.gguf.GgufValueType;

/**
 * A vocabulary as GGUF {@code tokenizer.*} keys ({@link GgufKeys.Tokenizer}): writers that emit them in
 * convert_hf_to_gguf.py's order for the two vocabularies Gemma uses, and the reader of the token tables.
 */
public final class GgufVocabulary {
    private GgufVocabulary() {}

    /**
     * The SentencePiece ("llama") vocabulary as Gemma3Model.set_vocab writes it: _set_vocab_sentencepiece (model,
     * pre "default", tokens, scores, types, special vocab) followed by add_space_prefix = false.
     */
    public static void writeSentencePiece(GgufMetadata md, VocabularyTables t, SpecialVocab special) {
        md.put(GgufKeys.Tokenizer.MODEL, GgufValue.string("llama"));
        md.put(GgufKeys.Tokenizer.PRE, GgufValue.string("default"));
        writeTables(md, t);
        special.writeTo(md);
        md.put(GgufKeys.Tokenizer.ADD_SPACE_PREFIX, GgufValue.bool(false));
    }

    /**
     * The "gemma4" BPE vocabulary as Gemma4Model.set_vocab writes it: model, tokens, scores, types (no pre: the
     * runtime sets it), special vocab with merges, add_space_prefix = false, add_bos_token = true.
     */
    public static void writeGemma4(GgufMetadata md, VocabularyTables t, SpecialVocab special) {
        md.put(GgufKeys.Tokenizer.MODEL, GgufValue.string("gemma4"));
        writeTables(md, t);
        special.writeTo(md);
        md.put(GgufKeys.Tokenizer.ADD_SPACE_PREFIX, GgufValue.bool(false));
        md.put(GgufKeys.Tokenizer.ADD_BOS, GgufValue.bool(true));
    }

    private static void writeTables(GgufMetadata md, VocabularyTables t) {
        md.put(GgufKeys.Tokenizer.TOKENS, GgufValue.array(GgufArray.ofStrings(t.tokens())));
        md.put(GgufKeys.Tokenizer.SCORES, GgufValue.array(GgufArray.ofFloat32(t.scores().clone())));
        md.put(GgufKeys.Tokenizer.TOKEN_TYPE, GgufValue.array(new GgufArray(GgufValueType.INT32, t.types().clone())));
    }

    /** Reads the token tables back from GGUF metadata (scores default to 0, types to NORMAL when absent). */
    public static VocabularyTables readTables(GgufMetadata md) {
        GgufArray tok = md.getArray(GgufKeys.Tokenizer.TOKENS).filter(a -> a.elementType() == GgufValueType.STRING)
                .orElseThrow(() -> new IllegalArgumentException("GGUF has no " + GgufKeys.Tokenizer.TOKENS + " string array"));
        int n = tok.length();
        float[] scores = new float[n];
        md.getArray(GgufKeys.Tokenizer.SCORES).ifPresent(a -> {
            if (a.length() < n) throw new IllegalArgumentException(GgufKeys.Tokenizer.SCORES + " has " + a.length() + " entries for " + n + " tokens");
            if (a.elementType() == GgufValueType.FLOAT32) System.arraycopy(a.floats(), 0, scores, 0, n);
            else if (a.elementType() == GgufValueType.INT32) for (int i = 0; i < n; i++) scores[i] = a.ints()[i];
            else throw new IllegalArgumentException(GgufKeys.Tokenizer.SCORES + " must be FLOAT32 or INT32, is " + a.elementType());
        });
        int[] types = new int[n];
        java.util.Arrays.fill(types, TokenType.NORMAL.id());
        md.getArray(GgufKeys.Tokenizer.TOKEN_TYPE).ifPresent(a -> {
            if (a.elementType() != GgufValueType.INT32) throw new IllegalArgumentException(GgufKeys.Tokenizer.TOKEN_TYPE + " must be INT32, is " + a.elementType());
            if (a.length() < n) throw new IllegalArgumentException(GgufKeys.Tokenizer.TOKEN_TYPE + " has " + a.length() + " entries for " + n + " tokens");
            System.arraycopy(a.ints(), 0, types, 0, n);
        });
        return new VocabularyTables(tok.stringList(), scores, types);
    }
}
