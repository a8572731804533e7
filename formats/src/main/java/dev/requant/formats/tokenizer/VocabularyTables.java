package dev.requant.formats.tokenizer;

import java.util.List;

/** The three parallel token arrays of a GGUF vocabulary: text, score and {@link TokenType} id per token id. */
public record VocabularyTables(List<String> tokens, float[] scores, int[] types) {
    public VocabularyTables {
        tokens = List.copyOf(tokens);
        if (scores.length != tokens.size() || types.length != tokens.size()) {
            throw new IllegalArgumentException("tokens, scores and types differ in length");
        }
    }

    public int size() { return tokens.size(); }
}
