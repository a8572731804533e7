package dev.requant.formats.tokenizer;

import java.util.ArrayList;
import java.util.List;
import java.util.PriorityQueue;

/**
 * Gemma 4's "gemma4" BPE tokenizer as llama.cpp runs it ({@code llm_tokenizer_bpe_session} with
 * LLAMA_VOCAB_PRE_TYPE_GEMMA4): spaces become U+2581, the text is cut into runs of newlines and runs of everything
 * else ({@code [^\n]+|[\n]+}, raw UTF-8, no GPT-2 byte map), and within each run the adjacent pair with the lowest
 * merge rank is merged until none is left (ties: leftmost first). A run of newlines that is itself a token is kept
 * whole (llama.cpp PR 21343). Symbols that are not tokens fall back to "&lt;0xXX&gt;" byte tokens, and bytes without
 * one are dropped, as in llama.cpp. BOS is always added with {@code addSpecial}.
 */
public final class Gemma4BpeTokenizer implements Tokenizer {
    private final LlamaVocab vocab;

    public Gemma4BpeTokenizer(LlamaVocab vocab) {
        if (vocab.type() != LlamaVocab.Type.BPE_GEMMA4) throw new IllegalArgumentException("not a gemma4 vocabulary: " + vocab.tokenizerModel());
        this.vocab = vocab;
    }

    @Override
    public LlamaVocab vocab() { return vocab; }

    @Override
    public int[] encode(String text, boolean addSpecial, boolean parseSpecial) {
        String bytes = LlamaVocab.bytes(text);
        List<SpecialTokenSplitter.Fragment> frags = SpecialTokenSplitter.split(vocab, bytes, parseSpecial);
        SpmTokenizer.IntList out = new SpmTokenizer.IntList();
        if (addSpecial && vocab.addBos()) out.add(vocab.bos());
        for (SpecialTokenSplitter.Fragment f : frags) {
            if (f.isText()) {
                String t = vocab.escapeWhitespaces() ? f.text().replace(" ", LlamaVocab.ESCAPED_SPACE) : f.text();
                tokenizeText(t, out);
            } else {
                out.add(f.token());
            }
        }
        if (addSpecial && vocab.addEos()) out.add(vocab.eos());
        return out.toArray();
    }

    private void tokenizeText(String text, SpmTokenizer.IntList out) {
        List<String> finals = new ArrayList<>();
        for (String word : splitNewlines(text)) mergeWord(word, finals);
        for (String s : finals) {
            int id = vocab.textToToken(s);
            if (id != LlamaVocab.NULL_TOKEN) {
                out.add(id);
                continue;
            }
            for (int j = 0; j < s.length(); j++) {
                int b = vocab.textToToken(LlamaVocab.hexByte(s.charAt(j)));
                if (b != LlamaVocab.NULL_TOKEN) out.add(b);
            }
        }
    }

    /** The gemma4 pre-tokenizer regex {@code [^\n]+|[\n]+}: maximal runs of newlines and of anything else. */
    static List<String> splitNewlines(String s) {
        List<String> words = new ArrayList<>();
        int i = 0;
        while (i < s.length()) {
            boolean nl = s.charAt(i) == '\n';
            int j = i + 1;
            while (j < s.length() && (s.charAt(j) == '\n') == nl) j++;
            words.add(s.substring(i, j));
            i = j;
        }
        return words;
    }

    /** llm_bigram_bpe: lowest rank first, then the leftmost. */
    private record Bigram(int left, int right, String text, int rank) implements Comparable<Bigram> {
        @Override
        public int compareTo(Bigram o) {
            if (rank != o.rank) return Integer.compare(rank, o.rank);
            return Integer.compare(left, o.left);
        }
    }

    private void mergeWord(String word, List<String> finals) {
        int n = word.length();
        int[] start = new int[n + 1], len = new int[n + 1], prev = new int[n + 1], next = new int[n + 1];
        int count = 0;
        int offset = 0;
        if (word.chars().allMatch(c -> c == '\n') && vocab.textToToken(word) != LlamaVocab.NULL_TOKEN) {
            start[0] = 0;
            len[0] = n;
            prev[0] = -1;
            next[0] = -1;
            count = 1;
            offset = n;
        }
        int index = 0;
        while (offset < n) {
            int l = Math.min(n - offset, SpmTokenizer.Utf8.seqLength(word.charAt(offset)));
            start[count] = offset;
            len[count] = l;
            offset += l;
            prev[count] = index - 1;
            next[count] = offset == n ? -1 : index + 1;
            index++;
            count++;
        }
        PriorityQueue<Bigram> queue = new PriorityQueue<>();
        for (int i = 1; i < count; i++) addBigram(word, start, len, i - 1, i, queue);
        while (!queue.isEmpty()) {
            Bigram b = queue.poll();
            int l = b.left, r = b.right;
            if (len[l] == 0 || len[r] == 0) continue;
            String lt = word.substring(start[l], start[l] + len[l]);
            String rt = word.substring(start[r], start[r] + len[r]);
            if (!(lt + rt).equals(b.text)) continue;
            len[l] += len[r];
            len[r] = 0;
            next[l] = next[r];
            if (next[r] >= 0) prev[next[r]] = l;
            addBigram(word, start, len, prev[l], l, queue);
            addBigram(word, start, len, l, next[l], queue);
        }
        for (int i = 0; i < count; i++) if (len[i] > 0) finals.add(word.substring(start[i], start[i] + len[i]));
    }

    private void addBigram(String word, int[] start, int[] len, int left, int right, PriorityQueue<Bigram> queue) {
        if (left == -1 || right == -1) return;
        String lt = word.substring(start[left], start[left] + len[left]);
        String rt = word.substring(start[right], start[right] + len[right]);
        int rank = vocab.bpeRank(lt, rt);
        if (rank < 0) return;
        queue.add(new Bigram(left, right, lt + rt, rank));
    }
}
