package dev.requant.formats.tokenizer;

import java.util.Optional;

/**
 * The token types of GGUF's {@code tokenizer.ggml.token_type} (gguf-py constants.py TokenType, llama.h
 * llama_token_type). SentencePiece piece types use the same numbers for NORMAL..BYTE.
 */
public enum TokenType {
    UNDEFINED(0), NORMAL(1), UNKNOWN(2), CONTROL(3), USER_DEFINED(4), UNUSED(5), BYTE(6);

    private final int id;

    TokenType(int id) { this.id = id; }

    public int id() { return id; }

    public static Optional<TokenType> byId(int id) {
        for (TokenType t : values()) if (t.id == id) return Optional.of(t);
        return Optional.empty();
    }
}
