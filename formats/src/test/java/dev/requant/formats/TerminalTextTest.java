package dev.requant.formats;

import static org.assertj.core.api.Assertions.assertThat;

import org.junit.jupiter.api.Test;

/** Issue 18.6: nothing a terminal interprets is printed as it is. */
class TerminalTextTest {
    @Test
    void controlCharactersAreEscapedAndOtherTextKept() {
        assertThat(TerminalText.escape("blk.0.attn_q.weight")).isEqualTo("blk.0.attn_q.weight");
        assertThat(TerminalText.escape("a\u001b[2Jb")).isEqualTo("a\\x1b[2Jb");
        assertThat(TerminalText.escape("line\nnext\ttab\rcr\u0007\u0000")).isEqualTo("line\\nnext\\ttab\\rcr\\x07\\x00");
        assertThat(TerminalText.escape("c1 \u009b31m del \u007f")).isEqualTo("c1 \\x9b31m del \\x7f");
        assertThat(TerminalText.escape("bidi \u202Egnp.exe\u2066x\u2069")).isEqualTo("bidi \\u202Egnp.exe\\u2066x\\u2069");
        assertThat(TerminalText.escape("Gemma ▁t 日本語 é")).isEqualTo("Gemma ▁t 日本語 é");
        assertThat(TerminalText.escape(null)).isEqualTo("null");
        for (char c = 0; c < 0x20; c++) assertThat(TerminalText.escape("x" + c)).doesNotContain(String.valueOf(c));
    }

    /** The printf form: names escaped, numbers and booleans left for %d, %.2f and %b. */
    @Test
    void escapeEachLeavesNumbersForTheirFormats() {
        Object[] args = TerminalText.escapeEach(java.nio.file.Path.of("/m\u001b[2J.gguf"), 3, 2.5, true, java.util.List.of("d\u202E"), null);
        assertThat(String.format(java.util.Locale.ROOT, "%s %d %.1f %b %s %s", args)).isEqualTo("/m\\x1b[2J.gguf 3 2.5 true [d\\u202E] null");
    }
}
