package dev.requant.converter;

import dev.requant.formats.FormatException;
import dev.requant.formats.gguf.GgufMetadata;
import dev.requant.formats.model.GemmaArch;
import dev.requant.formats.tokenizer.Gemma4Vocab;
import dev.requant.formats.tokenizer.GgufVocabulary;
import dev.requant.formats.tokenizer.HfTokenizerJson;
import dev.requant.formats.tokenizer.SentencePieceModel;
import dev.requant.formats.tokenizer.SentencePieceVocab;
import dev.requant.formats.tokenizer.SpecialVocab;
import dev.requant.formats.tokenizer.VocabularyTables;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;

/**
 * The vocabulary a Gemma folder converts to, chosen as conversion/gemma.py chooses it, and the number of tokens the
 * embedding is trimmed to.
 *
 * <ul>
 *   <li>Gemma 3: {@code tokenizer.model} → SentencePiece ("llama") vocabulary. Without it the Python converter falls
 *       back to a GPT-2 path that has no Gemma pre-tokenizer hash, so that is an error here.
 *   <li>Gemma 4: {@code tokenizer.json} → the "gemma4" BPE vocabulary. A folder that ships only a SentencePiece
 *       {@code tokenizer.model} (the tiny test checkpoints do) cannot be converted by convert_hf_to_gguf.py at all
 *       (LlamaHfVocab opens tokenizer.json); requant writes the SentencePiece vocabulary as for Gemma 3, which
 *       llama.cpp tokenizes with the same algorithm sentencepiece uses for that model, and notes it on stderr.
 * </ul>
 */
public record Vocabulary(Kind kind, VocabularyTables tables, SpecialVocab special, int embeddingRows) {
    public enum Kind { SENTENCEPIECE, GEMMA4_BPE }

    static Vocabulary of(HfConfig config) throws IOException {
        Path dir = config.dir();
        Path spmFile = dir.resolve("tokenizer.model");
        Path jsonFile = dir.resolve("tokenizer.json");
        if (config.arch() == GemmaArch.GEMMA4 && Files.isRegularFile(jsonFile)) {
            HfTokenizerJson tj = HfTokenizerJson.read(jsonFile);
            VocabularyTables t = Gemma4Vocab.create(dir, tj);
            SpecialVocab sv = SpecialVocab.load(dir, true, null);
            // Gemma3Model.modify_tensors: len(model.vocab) + len(added_tokens)
            return new Vocabulary(Kind.GEMMA4_BPE, t, sv, tj.vocab().size() + tj.addedTokens().size());
        }
        if (!Files.isRegularFile(spmFile)) {
            throw new FormatException(dir, config.arch() == GemmaArch.GEMMA3
                    ? "has no tokenizer.model (Gemma 3 conversion needs the SentencePiece model)"
                    : "has neither tokenizer.json nor tokenizer.model");
        }
        SentencePieceModel spm = SentencePieceModel.read(spmFile);
        Integer size = config.vocabSizePerLayerInput() != null ? config.vocabSizePerLayerInput() : config.vocabSize();
        VocabularyTables t = SentencePieceVocab.create(dir, spm, size);
        SpecialVocab sv = SpecialVocab.load(dir, false, t.size());
        return new Vocabulary(Kind.SENTENCEPIECE, t, sv, t.size());
    }

    /** The tokenizer.* keys, in the order Gemma3Model / Gemma4Model.set_vocab write them. */
    void writeTo(GgufMetadata md) {
        if (kind == Kind.GEMMA4_BPE) GgufVocabulary.writeGemma4(md, tables, special);
        else GgufVocabulary.writeSentencePiece(md, tables, special);
    }

    public int size() { return tables.size(); }
}
