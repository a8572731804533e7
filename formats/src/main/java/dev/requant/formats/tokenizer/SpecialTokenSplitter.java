package dev.requant.formats.tokenizer;

import java.util.ArrayList;
import java.util.List;

/**
 * llama_vocab::impl::tokenizer_st_partition: cuts the text at every occurrence of a special token, longest tokens
 * first, so that the tokenizer proper only sees the text in between. CONTROL and UNKNOWN tokens are matched only
 * when {@code parseSpecial}; USER_DEFINED ones always. Strip flags trim whitespace next to a match.
 */
final class SpecialTokenSplitter {
    /** A piece of the input: raw text (a byte string) or an already decided token. */
    record Fragment(String text, int token) {
        boolean isText() { return text != null; }
    }

    private SpecialTokenSplitter() {}

    static List<Fragment> split(LlamaVocab vocab, String byteText, boolean parseSpecial) {
        List<Fragment> frags = new ArrayList<>();
        if (byteText.isEmpty()) return frags;
        frags.add(new Fragment(byteText, -1));
        for (int id : vocab.specialCache()) {
            int attr = vocab.attr(id);
            if (!parseSpecial && (attr & (LlamaVocab.ATTR_CONTROL | LlamaVocab.ATTR_UNKNOWN)) != 0) continue;
            String tok = vocab.byteText(id);
            List<Fragment> next = null;
            for (int f = 0; f < frags.size(); f++) {
                Fragment frag = frags.get(f);
                if (!frag.isText() || frag.text().indexOf(tok) < 0) {
                    if (next != null) next.add(frag);
                    continue;
                }
                if (next == null) next = new ArrayList<>(frags.subList(0, f));
                String s = frag.text();
                int from = 0;
                while (true) {
                    int match = s.indexOf(tok, from);
                    if (match < 0) {
                        if (from < s.length()) next.add(new Fragment(s.substring(from), -1));
                        break;
                    }
                    int leftEnd = match;
                    if ((attr & LlamaVocab.ATTR_LSTRIP) != 0) while (leftEnd > from && isSpace(s.charAt(leftEnd - 1))) leftEnd--;
                    if (leftEnd > from) next.add(new Fragment(s.substring(from, leftEnd), -1));
                    next.add(new Fragment(null, id));
                    from = match + tok.length();
                    if ((attr & LlamaVocab.ATTR_RSTRIP) != 0) while (from < s.length() && isSpace(s.charAt(from))) from++;
                    if (from >= s.length()) break;
                }
            }
            if (next != null) frags = next;
        }
        return frags;
    }

    /** C isspace in the "C" locale. */
    private static boolean isSpace(char c) {
        return c == ' ' || c == '\t' || c == '\n' || c == '\u000B' || c == '\f' || c == '\r';
    }
}
