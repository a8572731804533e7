package dev.requant.formats.tokenizer;

import com.fasterxml.jackson.databind.JsonNode;
import dev.requant.formats.io.InputFiles;
import dev.requant.formats.io.Utf8StringList;
import java.io.IOException;
import java.nio.file.Path;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The token tables convert_hf_to_gguf.py builds from a {@code tokenizer.model} ({@code _create_vocab_sentencepiece},
 * conversion/base.py): {@code vocabSize} slots pre-filled with "[PADi]" / -10000 / UNUSED, the pieces over them
 * (SentencePiece USER_DEFINED pieces become NORMAL), then added_tokens.json (USER_DEFINED, -1000) and the
 * {@code added_tokens_decoder} of tokenizer_config.json (CONTROL when special or special-looking, else
 * USER_DEFINED with U+2581 turned back into spaces; -1000).
 */
public final class SentencePieceVocab {
    private static final Logger LOG = LoggerFactory.getLogger(SentencePieceVocab.class);

    private SentencePieceVocab() {}

    /**
     * @param vocabSize the config's vocab_size_per_layer_input or vocab_size; null or 0 = the piece count
     */
    public static VocabularyTables create(Path dir, SentencePieceModel spm, Integer vocabSize) throws IOException {
        SentencePieceModel.Pieces pieces = spm.pieces();
        int n = vocabSize == null || vocabSize == 0 ? pieces.size() : vocabSize;
        int count = Math.min(n, pieces.size());
        if (count < pieces.size()) LOG.warn("ignore tokens from {}: id is out of range, max={}", count, n - 1);
        // the texts that replace a piece's or fill an id no piece has; null: the piece's text ("[PAD<id>]" where none)
        String[] replaced = new String[n];
        float[] scores = new float[n];
        int[] types = new int[n];
        java.util.Arrays.fill(scores, count, n, -10000f);
        java.util.Arrays.fill(types, count, n, TokenType.UNUSED.id());
        pieces.copyScores(count, scores);
        for (int id = 0; id < count; id++) types[id] = VOCAB_TYPE[pieces.typeId(id)];
        Path addedFile = dir.resolve("added_tokens.json");
        if (InputFiles.present(addedFile, "added tokens file")) {
            JsonNode added = SpecialVocab.readJson(addedFile);
            for (var e : added.properties()) {
                int id = e.getValue().asInt();
                if (id >= n) {
                    LOG.warn("ignore token {}: id is out of range, max={}", id, n - 1);
                    continue;
                }
                replaced[id] = e.getKey();
                scores[id] = -1000f;
                types[id] = TokenType.USER_DEFINED.id();
            }
        }
        Path configFile = dir.resolve("tokenizer_config.json");
        if (InputFiles.present(configFile, "tokenizer config")) {
            JsonNode decoder = SpecialVocab.readJson(configFile).path("added_tokens_decoder");
            for (var e : decoder.properties()) {
                int id = Integer.parseInt(e.getKey());
                String content = e.getValue().path("content").asText();
                if (id >= n) {
                    LOG.warn("ignore token {}: id is out of range, max={}", id, n - 1);
                    continue;
                }
                if (e.getValue().path("special").asBoolean(false) || looksSpecial(content)) {
                    types[id] = TokenType.CONTROL.id();
                } else {
                    content = content.replace('\u2581', ' ');
                    types[id] = TokenType.USER_DEFINED.id();
                }
                scores[id] = -1000f;
                replaced[id] = content;
            }
        }
        // the pieces' texts copied as bytes, in runs between the replaced ids
        Utf8StringList texts = pieces.texts();
        Utf8StringList.Builder tokens = new Utf8StringList.Builder(n, texts.totalBytes() + 16L * (n - count));
        int from = 0; // the first piece not yet copied
        for (int id = 0; id < n; id++) {
            if (id < count && replaced[id] == null) continue;
            if (from < Math.min(id, count)) tokens.addAll(texts, from, Math.min(id, count));
            tokens.add(replaced[id] != null ? replaced[id] : "[PAD" + id + "]");
            from = id + 1;
        }
        if (from < count) tokens.addAll(texts, from, count);
        return new VocabularyTables(tokens.build(), scores, types);
    }

    /** A piece's type id to its GGUF token type id: USER_DEFINED pieces (and NORMAL ones) become NORMAL. */
    private static final int[] VOCAB_TYPE = new int[TokenType.values().length]; // ids are 0..6, as TokenType.byId indexes them

    static {
        for (TokenType t : TokenType.values()) {
            VOCAB_TYPE[t.id()] = switch (t) {
                case UNKNOWN, CONTROL, UNUSED, BYTE -> t.id();
                default -> TokenType.NORMAL.id();
            };
        }
    }

    /** TextModel.does_token_look_special (conversion/base.py). */
    public static boolean looksSpecial(String t) {
        return t.equals("<pad>") || t.equals("<mask>") || t.equals("<2mass>") || t.equals("[@BOS@]")
                || (t.startsWith("<|") && t.endsWith("|>"))
                || (t.startsWith("<\uFF5C") && t.endsWith("\uFF5C>"))
                || (t.startsWith("<unused") && t.endsWith(">"));
    }
}
