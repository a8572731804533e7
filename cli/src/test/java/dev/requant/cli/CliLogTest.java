package dev.requant.cli;

import static org.assertj.core.api.Assertions.assertThat;

import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import org.junit.jupiter.api.Test;
import org.slf4j.LoggerFactory;

class CliLogTest {
    private static String stderrOf(Runnable r) {
        PrintStream saved = System.err;
        ByteArrayOutputStream buf = new ByteArrayOutputStream();
        System.setErr(new PrintStream(buf, true, StandardCharsets.UTF_8));
        try {
            r.run();
        } finally {
            System.setErr(saved);
        }
        return buf.toString(StandardCharsets.UTF_8);
    }

    @Test
    void libraryLinesSpeakAsRequant() {
        assertThat(LoggerFactory.getILoggerFactory()).isInstanceOf(CliLog.class.getDeclaredClasses()[0]);
        String err = stderrOf(() -> {
            LoggerFactory.getLogger("dev.requant.converter.GemmaPlanner").warn("{}: no tokenizer.json", "/m");
            LoggerFactory.getLogger("dev.requant.cli.ImatrixCommand").info("collecting {} chunks", 4);
            LoggerFactory.getLogger("dev.requant.cli.ImatrixCommand").debug("not shown without --verbose");
            LoggerFactory.getLogger("org.flywaydb.core.Flyway").info("not shown: another library's information");
            LoggerFactory.getLogger("org.flywaydb.core.Flyway").warn("shown");
        });
        assertThat(err.lines()).containsExactly(
                "requant: warning: /m: no tokenizer.json",
                "requant: collecting 4 chunks",
                "requant: warning: [Flyway] shown");
    }

    /** A model folder's name (or a tensor name, a warning's text) reaches the terminal escaped, as in every other line. */
    @Test
    void namesInLogLinesAreEscaped() {
        String err = stderrOf(() -> LoggerFactory.getLogger("dev.requant.converter.GemmaPlanner")
                .warn("{}: no tokenizer.json", "/m\u001b[2J\u009b31m\u202Eevil\nrequant: fake line"));
        assertThat(err.lines()).containsExactly("requant: warning: /m\\x1b[2J\\x9b31m\\u202Eevil\\nrequant: fake line: no tokenizer.json");
    }
}
