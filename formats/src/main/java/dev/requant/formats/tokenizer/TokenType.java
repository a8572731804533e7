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

    /** Indexed by id (values() would copy its array on every call, once per vocabulary piece); the ids are 0..6. */
    private static final TokenType[] BY_ID = new TokenType[values().length];

    static {
        for (TokenType t : values()) BY_ID[t.id] = t;
    }

    public static Optional<TokenType> byId(int id) {
        return id >= 0 && id < BY_ID.length ? Optional.ofNullable(BY_ID[id]) : Optional.empty();
    }
}
