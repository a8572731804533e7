package dev.requant.cli;

import static org.assertj.core.api.Assertions.assertThat;

import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.Test;
import picocli.CommandLine;

/** The CLI's conventions, for every command: summaries, usage errors, help without warnings. */
class CliConventionsTest {
    private static List<CommandLine> all(CommandLine c) {
        List<CommandLine> out = new ArrayList<>();
        out.add(c);
        for (CommandLine s : c.getSubcommands().values()) out.addAll(all(s));
        return out;
    }

    @Test
    void everyCommandSummaryIsAWholeSentence() {
        for (CommandLine c : all(Main.commandLine())) {
            var usage = c.getCommandSpec().usageMessage();
            String summary = usage.header().length > 0 ? usage.header()[0] : usage.description()[0];
            assertThat(summary).as(c.getCommandName()).matches("^[A-Z].*\\.$");
        }
    }

    @Test
    void aUsageErrorIsItsReasonAndWhereTheHelpIs() {
        CliRun r = CliRun.of("quantize", "--no-such-flag", "in.gguf", "Q8_0");
        assertThat(r.code()).isEqualTo(2);
        assertThat(r.err().strip().lines()).hasSize(2);
        assertThat(r.err()).contains("--no-such-flag").endsWith("see 'requant quantize --help'\n");
        CliRun q = CliRun.of("queue", "add", "--bogus");
        assertThat(q.code()).isEqualTo(2);
        assertThat(q.err()).contains("see 'requant queue add --help'");
    }

    @Test
    void helpHasNoPicocliWarnings() {
        // picocli reports a description it cannot format on System.err, not in the help text
        java.io.PrintStream saved = System.err;
        java.io.ByteArrayOutputStream traced = new java.io.ByteArrayOutputStream();
        System.setErr(new java.io.PrintStream(traced, true));
        try {
            for (CommandLine c : all(Main.commandLine())) {
                java.io.StringWriter sw = new java.io.StringWriter();
                c.usage(new java.io.PrintWriter(sw));
                assertThat(sw.toString()).as(c.getCommandName()).doesNotContain("${");
            }
        } finally {
            System.setErr(saved);
        }
        assertThat(traced.toString()).doesNotContain("picocli WARN");
        CliRun q = CliRun.of("quantize", "--help");
        assertThat(q.out()).contains("Q4_K_M").contains("4.58G, +0.1754 ppl @ Llama-3-8B").contains("IQ2_XXS");
    }
}
