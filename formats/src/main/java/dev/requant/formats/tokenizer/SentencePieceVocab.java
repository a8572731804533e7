package dev.requant.formats.tokenizer;

import com.fasterxml.jackson.databind.JsonNode;
import dev.requant.formats.io.InputFiles;
import java.io.IOException;
import java.nio.file.Path;
import java.util.List;
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
        int n = vocabSize == null || vocabSize == 0 ? spm.pieces().size() : vocabSize;
        // "[PAD<id>]" for the ids no piece or added token fills, named once the others are in (262,144 names otherwise)
        String[] names = new String[n];
        List<String> tokens = java.util.Arrays.asList(names);
        float[] scores = new float[n];
        int[] types = new int[n];
        java.util.Arrays.fill(scores, -10000f);
        java.util.Arrays.fill(types, TokenType.UNUSED.id());
        for (int id = 0; id < spm.pieces().size(); id++) {
            if (id >= n) {
                LOG.warn("ignore tokens from {}: id is out of range, max={}", id, n - 1);
                break;
            }
            SentencePieceModel.Piece p = spm.pieces().get(id);
            TokenType t = switch (p.type()) {
                case UNKNOWN, CONTROL, UNUSED, BYTE -> p.type();
                default -> TokenType.NORMAL;
            };
            tokens.set(id, p.text());
            scores[id] = p.score();
            types[id] = t.id();
        }
        Path addedFile = dir.resolve("added_tokens.json");
        if (InputFiles.present(addedFile, "added tokens file")) {
            JsonNode added = SpecialVocab.readJson(addedFile);
            for (var e : added.properties()) {
                int id = e.getValue().asInt();
                if (id >= n) {
                    LOG.warn("ignore token {}: id is out of range, max={}", id, n - 1);
                    continue;
                }
                tokens.set(id, e.getKey());
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
                tokens.set(id, content);
            }
        }
        for (int i = 0; i < n; i++) if (names[i] == null) names[i] = "[PAD" + i + "]";
        return new VocabularyTables(tokens, scores, types);
    }

    /** TextModel.does_token_look_special (conversion/base.py). */
    public static boolean looksSpecial(String t) {
        return t.equals("<pad>") || t.equals("<mask>") || t.equals("<2mass>") || t.equals("[@BOS@]")
                || (t.startsWith("<|") && t.endsWith("|>"))
                || (t.startsWith("<\uFF5C") && t.endsWith("\uFF5C>"))
                || (t.startsWith("<unused") && t.endsWith(">"));
    }
}
