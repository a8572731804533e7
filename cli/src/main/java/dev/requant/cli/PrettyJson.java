package dev.requant.cli;

import com.fasterxml.jackson.core.SerializableString;
import com.fasterxml.jackson.core.io.CharacterEscapes;
import com.fasterxml.jackson.core.io.SerializedString;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.SerializationFeature;
import dev.requant.formats.TerminalText;

/**
 * The indented JSON every {@code --json} option prints. Created on first use: picocli instantiates every subcommand at
 * start-up, and a mapper in a static field of each would load Jackson (a tenth of a second) for commands that never
 * print JSON.
 */
final class PrettyJson {
    private PrettyJson() {}

    private static final class Holder {
        static final ObjectMapper MAPPER = new ObjectMapper().enable(SerializationFeature.INDENT_OUTPUT);

        static {
            MAPPER.getFactory().setCharacterEscapes(new TerminalEscapes());
        }
    }

    static ObjectMapper mapper() { return Holder.MAPPER; }

    /**
     * JSON strings (values and keys) with every character a terminal acts on written as {@code \}{@code uXXXX}, so a
     * consumer that prints a raw field (jq -r, a shell script) is as safe as requant's own text output. Jackson by
     * default escapes only C0 controls, which JSON requires; DEL, the C1 controls (0x9b is a CSI on its own), the
     * Unicode line separators and the bidirectional overrides pass through raw. The set is {@link TerminalText}'s.
     */
    static final class TerminalEscapes extends CharacterEscapes {
        private final int[] ascii;

        TerminalEscapes() {
            ascii = standardAsciiEscapesForJSON();
            ascii[0x7F] = ESCAPE_STANDARD;
        }

        @Override public int[] getEscapeCodesForAscii() { return ascii; }

        @Override
        public SerializableString getEscapeSequence(int ch) {
            return ch <= 0xFFFF && TerminalText.interpreted((char) ch) ? new SerializedString(String.format("\\u%04X", ch)) : null;
        }
    }
}
