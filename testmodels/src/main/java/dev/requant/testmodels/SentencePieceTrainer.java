package dev.requant.testmodels;

import dev.requant.formats.tokenizer.SentencePieceModel;
import dev.requant.formats.tokenizer.SentencePieceModel.Piece;
import dev.requant.formats.tokenizer.TokenType;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.TreeSet;

/**
 * Trains a small SentencePiece BPE model from text, deterministically, so that synthetic checkpoints and the demo can
 * ship a tokenizer of their own (no downloaded model). Layout as Gemma's: pad 0, eos 1, bos 2, unk 3, the turn markers,
 * 256 byte-fallback pieces, then merges by frequency (score = -rank, which is how llama.cpp's SentencePiece tokenizer
 * orders them) and the single characters. Words start at spaces, marked with U+2581 as SentencePiece does.
 */
public final class SentencePieceTrainer {
    private static final String SPACE = "\u2581";

    private SentencePieceTrainer() {}

    public static SentencePieceModel train(String text, int vocabSize) {
        List<Piece> pieces = new ArrayList<>();
        pieces.add(new Piece("<pad>", 0f, TokenType.CONTROL));
        pieces.add(new Piece("</s>", 0f, TokenType.CONTROL));
        pieces.add(new Piece("<s>", 0f, TokenType.CONTROL));
        pieces.add(new Piece("<unk>", 0f, TokenType.UNKNOWN));
        pieces.add(new Piece("<start_of_turn>", 0f, TokenType.USER_DEFINED));
        pieces.add(new Piece("<end_of_turn>", 0f, TokenType.USER_DEFINED));
        pieces.add(new Piece("<mask>", 0f, TokenType.USER_DEFINED));
        for (int b = 0; b < 256; b++) pieces.add(new Piece(String.format("<0x%02X>", b), 0f, TokenType.BYTE));

        // words: maximal runs that start at a space (which becomes U+2581) and stop before the next space or newline
        Map<List<String>, Integer> words = new LinkedHashMap<>();
        TreeSet<String> chars = new TreeSet<>();
        for (String line : text.split("\n", -1)) {
            String s = line.replace(" ", SPACE);
            int start = 0;
            for (int i = 1; i <= s.length(); i++) {
                if (i == s.length() || s.startsWith(SPACE, i)) {
                    if (i > start) {
                        List<String> sym = new ArrayList<>();
                        s.substring(start, i).codePoints().forEach(cp -> sym.add(new String(Character.toChars(cp))));
                        chars.addAll(sym);
                        words.merge(sym, 1, Integer::sum);
                    }
                    start = i;
                }
            }
        }
        int budget = vocabSize - pieces.size() - chars.size();
        List<String> merges = new ArrayList<>();
        List<List<String>> wordList = new ArrayList<>(words.keySet());
        List<Integer> counts = new ArrayList<>(words.values());
        for (int m = 0; m < budget; m++) {
            Map<String, Integer> pairs = new HashMap<>();
            for (int w = 0; w < wordList.size(); w++) {
                List<String> s = wordList.get(w);
                for (int i = 0; i + 1 < s.size(); i++) pairs.merge(s.get(i) + "\u0000" + s.get(i + 1), counts.get(w), Integer::sum);
            }
            String best = null;
            int bestCount = 1; // a pair seen once is not worth a token
            for (var e : pairs.entrySet()) {
                if (e.getValue() > bestCount || (e.getValue() == bestCount && best != null && e.getKey().compareTo(best) < 0)) {
                    best = e.getKey();
                    bestCount = e.getValue();
                }
            }
            if (best == null) break;
            String[] ab = best.split("\u0000", 2);
            String merged = ab[0] + ab[1];
            merges.add(merged);
            for (List<String> s : wordList) {
                for (int i = 0; i + 1 < s.size(); i++) {
                    if (s.get(i).equals(ab[0]) && s.get(i + 1).equals(ab[1])) {
                        s.set(i, merged);
                        s.remove(i + 1);
                    }
                }
            }
        }
        for (int i = 0; i < merges.size(); i++) pieces.add(new Piece(merges.get(i), -(i + 1), TokenType.NORMAL));
        int r = merges.size();
        for (String c : chars) pieces.add(new Piece(c, -(++r), TokenType.NORMAL));
        return new SentencePieceModel(pieces,
                new SentencePieceModel.TrainerSpec(SentencePieceModel.TrainerSpec.BPE, pieces.size(), false, true, 3, 2, 1, 0),
                new SentencePieceModel.NormalizerSpec("identity", false, false, true));
    }
}
