package dev.requant.formats.tokenizer;

import dev.requant.formats.io.Utf8StringList;
import java.util.List;

/**
 * The three parallel token arrays of a GGUF vocabulary: text, score and {@link TokenType} id per token id. The texts
 * are held as UTF-8 ({@link Utf8StringList}), as a GGUF file holds them.
 */
public record VocabularyTables(List<String> tokens, float[] scores, int[] types) {
    public VocabularyTables {
        tokens = Utf8StringList.of(tokens);
        if (scores.length != tokens.size() || types.length != tokens.size()) {
            throw new IllegalArgumentException("tokens, scores and types differ in length");
        }
    }

    public int size() { return tokens.size(); }
}
