package dev.requant.formats.tokenizer;

import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.PriorityQueue;

/**
 * The SentencePiece ("llama") tokenizer of llama.cpp: {@code llm_tokenizer_spm_session} after the special-token
 * split. Text is split into UTF-8 characters, the adjacent pair whose concatenation is the highest-scoring token is
 * merged until none is left (ties: leftmost first), and characters that are not tokens fall back to
 * "&lt;0xXX&gt;" byte tokens. Spaces become U+2581; a space is prepended to text after BOS or a special token only
 * when tokenizer.ggml.add_space_prefix is true (Gemma writes false).
 */
public final class SpmTokenizer implements Tokenizer {
    private final LlamaVocab vocab;

    public SpmTokenizer(LlamaVocab vocab) {
        this.vocab = vocab;
    }

    @Override
    public LlamaVocab vocab() { return vocab; }

    @Override
    public int[] encode(String text, boolean addSpecial, boolean parseSpecial) {
        String bytes = LlamaVocab.bytes(text);
        List<SpecialTokenSplitter.Fragment> frags = SpecialTokenSplitter.split(vocab, bytes, parseSpecial);
        IntList out = new IntList();
        boolean prevSpecial = true;
        if (addSpecial && vocab.addBos()) out.add(vocab.bos());
        for (SpecialTokenSplitter.Fragment f : frags) {
            if (f.isText()) {
                String t = (vocab.addSpacePrefix() && prevSpecial ? " " : "") + f.text();
                new Session(t.replace(" ", LlamaVocab.ESCAPED_SPACE)).tokenize(out);
                prevSpecial = false;
            } else {
                out.add(f.token());
                prevSpecial = true;
            }
        }
        if (addSpecial && vocab.addEos()) out.add(vocab.eos());
        return out.toArray();
    }

    /** One run of llm_tokenizer_spm_session::tokenize over a byte string. */
    private final class Session {
        private final String text;
        private int[] start, len, prev, next;
        private int count;
        private final PriorityQueue<Bigram> queue = new PriorityQueue<>();
        private final Map<String, int[]> revMerge = new HashMap<>();

        Session(String text) {
            this.text = text;
        }

        /** llm_bigram_spm: highest score first, then the leftmost. */
        private record Bigram(int left, int right, float score, int size) implements Comparable<Bigram> {
            @Override
            public int compareTo(Bigram o) {
                if (score != o.score) return Float.compare(o.score, score);
                return Integer.compare(left, o.left);
            }
        }

        void tokenize(IntList out) {
            int n = text.length();
            start = new int[n];
            len = new int[n];
            prev = new int[n];
            next = new int[n];
            int offs = 0;
            while (offs < n) {
                int l = Math.min(Utf8.seqLength(text.charAt(offs)), n - offs);
                start[count] = offs;
                len[count] = l;
                offs += l;
                prev[count] = count - 1;
                next[count] = offs == n ? -1 : count + 1;
                count++;
            }
            for (int i = 1; i < count; i++) tryAddBigram(i - 1, i);
            while (!queue.isEmpty()) {
                Bigram b = queue.poll();
                int l = b.left, r = b.right;
                if (len[l] == 0 || len[r] == 0 || len[l] + len[r] != b.size) continue;
                len[l] += len[r];
                len[r] = 0;
                next[l] = next[r];
                if (next[r] >= 0) prev[next[r]] = l;
                tryAddBigram(prev[l], l);
                tryAddBigram(l, next[l]);
            }
            for (int i = count == 0 ? -1 : 0; i != -1; i = next[i]) resegment(i, out);
        }

        private void tryAddBigram(int left, int right) {
            if (left == -1 || right == -1) return;
            String s = text.substring(start[left], start[left] + len[left] + len[right]);
            int id = vocab.textToToken(s);
            if (id == LlamaVocab.NULL_TOKEN || id >= vocab.size()) return;
            queue.add(new Bigram(left, right, vocab.score(id), s.length()));
            revMerge.put(s, new int[] {left, right});
        }

        private void resegment(int sym, IntList out) {
            String s = text.substring(start[sym], start[sym] + len[sym]);
            int id = vocab.textToToken(s);
            if (id != LlamaVocab.NULL_TOKEN) {
                out.add(id);
                return;
            }
            int[] p = revMerge.get(s);
            if (p == null) {
                for (int j = 0; j < s.length(); j++) {
                    int b = vocab.byteToTokenSpm(s.charAt(j));
                    if (b == LlamaVocab.NULL_TOKEN) {
                        throw new IllegalStateException("byte 0x" + Integer.toHexString(s.charAt(j)) + " has no token in the vocabulary (no byte fallback)");
                    }
                    out.add(b);
                }
                return;
            }
            resegment(p[0], out);
            resegment(p[1], out);
        }
    }

    static String utf8(String byteString) {
        return new String(byteString.getBytes(StandardCharsets.ISO_8859_1), StandardCharsets.UTF_8);
    }

    /** A growable int array. */
    static final class IntList {
        private int[] a = new int[64];
        private int n;

        void add(int v) {
            if (n == a.length) a = java.util.Arrays.copyOf(a, n * 2);
            a[n++] = v;
        }

        int[] toArray() { return java.util.Arrays.copyOf(a, n); }
    }

    /** unicode_len_utf8: sequence length from the lead byte's high nibble (continuation bytes count as 1). */
    static final class Utf8 {
        private static final int[] LOOKUP = {1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 2, 2, 3, 4};

        private Utf8() {}

        static int seqLength(char byteChar) {
            return LOOKUP[(byteChar & 0xFF) >> 4];
        }
    }

}
