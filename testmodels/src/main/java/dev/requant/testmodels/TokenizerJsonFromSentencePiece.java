package dev.requant.testmodels;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.requant.formats.tokenizer.SentencePieceModel;
import dev.requant.formats.tokenizer.TokenType;
import java.io.IOException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.HashMap;
import java.util.List;
import java.util.Map;

/**
 * A Gemma-4-style {@code tokenizer.json} (byte-fallback BPE, Sequence decoder) made from a SentencePiece BPE model the
 * way transformers' SentencePieceExtractor does it: the pieces become the vocabulary, and every split of a piece into
 * two pieces is a merge, merges ordered by the score of the merged piece (highest first). Control and unknown pieces
 * become special added tokens, user-defined ones non-special added tokens. Used to test the "gemma4" vocabulary path.
 */
public final class TokenizerJsonFromSentencePiece {
    private static final ObjectMapper JSON = new ObjectMapper();

    private TokenizerJsonFromSentencePiece() {}

    public static ObjectNode convert(Path tokenizerModel) throws IOException {
        SentencePieceModel spm = SentencePieceModel.read(tokenizerModel);
        List<SentencePieceModel.Piece> pieces = spm.pieces();
        Map<String, Integer> ids = new HashMap<>();
        for (int i = 0; i < pieces.size(); i++) ids.putIfAbsent(pieces.get(i).text(), i);

        record Merge(String left, String right, float score, int order) {}
        List<Merge> merges = new ArrayList<>();
        for (SentencePieceModel.Piece p : pieces) {
            List<Merge> local = new ArrayList<>();
            String s = p.text();
            for (int k = 1; k < s.length(); k++) {
                if (Character.isLowSurrogate(s.charAt(k))) continue;
                String l = s.substring(0, k), r = s.substring(k);
                if (ids.containsKey(l) && ids.containsKey(r)) local.add(new Merge(l, r, p.score(), 0));
            }
            local.sort(Comparator.<Merge>comparingInt(m -> ids.get(m.left())).thenComparingInt(m -> ids.get(m.right())));
            for (Merge m : local) merges.add(new Merge(m.left(), m.right(), m.score(), merges.size()));
        }
        merges.sort(Comparator.comparingDouble((Merge m) -> -m.score()).thenComparingInt(Merge::order)); // stable, highest score first

        ObjectNode root = JSON.createObjectNode();
        root.put("version", "1.0");
        root.putNull("truncation");
        root.putNull("padding");
        ArrayNode added = root.putArray("added_tokens");
        for (int i = 0; i < pieces.size(); i++) {
            TokenType t = pieces.get(i).type();
            if (t != TokenType.CONTROL && t != TokenType.UNKNOWN && t != TokenType.USER_DEFINED) continue;
            added.addObject().put("id", i).put("content", pieces.get(i).text()).put("single_word", false).put("lstrip", false)
                    .put("rstrip", false).put("normalized", false).put("special", t != TokenType.USER_DEFINED);
        }
        ObjectNode norm = root.putObject("normalizer");
        norm.put("type", "Replace");
        norm.putObject("pattern").put("String", " ");
        norm.put("content", "\u2581");
        root.putNull("pre_tokenizer");
        root.putNull("post_processor");
        ObjectNode dec = root.putObject("decoder");
        dec.put("type", "Sequence");
        ArrayNode decs = dec.putArray("decoders");
        ObjectNode rep = decs.addObject().put("type", "Replace");
        rep.putObject("pattern").put("String", "\u2581");
        rep.put("content", " ");
        decs.addObject().put("type", "ByteFallback");
        decs.addObject().put("type", "Fuse");
        ObjectNode model = root.putObject("model");
        model.put("type", "BPE");
        model.putNull("dropout");
        model.put("unk_token", "<unk>");
        model.putNull("continuing_subword_prefix");
        model.putNull("end_of_word_suffix");
        model.put("fuse_unk", true);
        model.put("byte_fallback", true);
        model.put("ignore_merges", false);
        ObjectNode vocab = model.putObject("vocab");
        for (int i = 0; i < pieces.size(); i++) vocab.put(pieces.get(i).text(), i);
        ArrayNode m = model.putArray("merges");
        for (Merge x : merges) m.addArray().add(x.left()).add(x.right());
        return root;
    }
}
