package dev.requant.formats.tokenizer;

import dev.requant.formats.gguf.GgufMetadata;
import java.io.ByteArrayOutputStream;
import java.nio.charset.StandardCharsets;

/**
 * Text to token ids exactly as llama.cpp's {@code llama_tokenize} computes them for a GGUF vocabulary. Build one from
 * the metadata of a GGUF file or of an HF folder viewed as a model ({@code ModelSource.metadata()}).
 */
public interface Tokenizer {
    /**
     * llama_tokenize(text, add_special, parse_special).
     *
     * @param addSpecial add BOS/EOS as the vocabulary says (tokenizer.ggml.add_bos_token / add_eos_token)
     * @param parseSpecial match control tokens written as text ("&lt;end_of_turn&gt;"); user-defined tokens are
     *     always matched
     */
    int[] encode(String text, boolean addSpecial, boolean parseSpecial);

    /** The vocabulary this tokenizer runs on. */
    LlamaVocab vocab();

    /** The SentencePiece or gemma4 BPE tokenizer that tokenizer.ggml.model names. */
    static Tokenizer fromMetadata(GgufMetadata md) {
        LlamaVocab v = LlamaVocab.fromMetadata(md);
        return switch (v.type()) {
            case SPM -> new SpmTokenizer(v);
            case BPE_GEMMA4 -> new Gemma4BpeTokenizer(v);
        };
    }

    /** The text the ids stand for (llama_detokenize without space cleanup; control tokens only when {@code special}). */
    default String decode(int[] ids, boolean special) {
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        for (int id : ids) out.writeBytes(vocab().tokenToPiece(id, special));
        return out.toString(StandardCharsets.UTF_8);
    }
}
