package dev.requant.formats;

/**
 * Text from files and databases made safe to print: a GGUF key, a tensor name, a model name or an error message can
 * hold bytes that a terminal interprets ({@code ESC [2J} clears the screen, other sequences retitle the window, move
 * the cursor or fake earlier lines). Every character a terminal may act on is written as an escape instead: C0 controls
 * and DEL as {@code \n}, {@code \t}, {@code \r} or {@code \xHH}, C1 controls as {@code \xHH}, and the Unicode line
 * separators and bidirectional overrides (which reorder what follows them) as {@code \u202E} and so on. Everything else,
 * including non-ASCII letters, is kept. Text that needs no escape is returned as it is.
 */
public final class TerminalText {
    private TerminalText() {}

    /** {@code text} with every control character escaped (null prints as "null"). */
    public static String escape(Object text) {
        String s = String.valueOf(text);
        int i = 0;
        while (i < s.length() && !interpreted(s.charAt(i))) i++;
        if (i == s.length()) return s;
        StringBuilder sb = new StringBuilder(s.length() + 16).append(s, 0, i);
        for (; i < s.length(); i++) {
            char c = s.charAt(i);
            if (!interpreted(c)) {
                sb.append(c);
                continue;
            }
            switch (c) {
                case '\n' -> sb.append("\\n");
                case '\r' -> sb.append("\\r");
                case '\t' -> sb.append("\\t");
                default -> sb.append(c < 0x100 ? String.format("\\x%02x", (int) c) : String.format("\\u%04X", (int) c));
            }
        }
        return sb.toString();
    }

    /**
     * The arguments of a {@code printf} with every one that is not a number or a boolean escaped: a line that formats
     * names from files passes them all through here, so no argument is forgotten ({@code %d} and {@code %.2f} still get
     * their numbers).
     */
    public static Object[] escapeEach(Object... args) {
        Object[] out = args.clone();
        for (int i = 0; i < out.length; i++) {
            if (!(out[i] instanceof Number) && !(out[i] instanceof Boolean)) out[i] = escape(out[i]);
        }
        return out;
    }

    /** Whether a terminal may act on {@code c} instead of showing it (also what the JSON output escapes). */
    public static boolean interpreted(char c) {
        return c < 0x20 || (c >= 0x7F && c <= 0x9F) || c == '\u2028' || c == '\u2029'
                || (c >= '\u202A' && c <= '\u202E') || (c >= '\u2066' && c <= '\u2069') || c == '\u200E' || c == '\u200F'
                || c == '\u061C';
    }
}
