package dev.requant.cli;

import static org.assertj.core.api.Assertions.assertThat;

import java.io.PrintWriter;
import java.io.StringWriter;
import java.util.List;
import org.junit.jupiter.api.Test;
import picocli.CommandLine;
import picocli.CommandLine.Command;

class CommandTreeTest {
    private static CliRun run(CommandLine cl, String... args) {
        StringWriter out = new StringWriter(), err = new StringWriter();
        cl.setOut(new PrintWriter(out));
        cl.setErr(new PrintWriter(err));
        int code = cl.execute(args);
        return new CliRun(code, out.toString(), err.toString());
    }

    /** The lazily built tree answers every help and usage request as the full tree does. */
    @Test
    void lazyTreePrintsWhatTheFullTreePrints() {
        List<String[]> cases = new java.util.ArrayList<>(List.of(
                new String[] {"--help"}, new String[] {}, new String[] {"help"}, new String[] {"nosuch"},
                new String[] {"-v", "--help"}, new String[] {"queue", "status", "--help"}, new String[] {"imatrix", "merge", "--help"}));
        for (Class<?> c : RequantCommand.SUBCOMMANDS) {
            String name = c.getAnnotation(Command.class).name();
            cases.add(new String[] {name, "--help"});
            cases.add(new String[] {"help", name});
            cases.add(new String[] {"-v", name, "--no-such-option"});
        }
        for (String[] args : cases) {
            CliRun full = run(CommandTree.full(), args), lazy = run(CommandTree.forArgs(args), args);
            assertThat(lazy).as(String.join(" ", args)).isEqualTo(full);
        }
    }

    @Test
    void findsTheCommandWordPastOptionsAndHelp() {
        assertThat(CommandTree.commandWords("-v", "quantize", "in.gguf", "out.gguf", "Q4_0")).containsExactly("quantize");
        assertThat(CommandTree.commandWords("help", "eval")).containsExactly("eval");
        assertThat(CommandTree.commandWords("--help")).isEmpty();
    }

    @Test
    void aRunBuildsOnlyItsOwnCommand() {
        CommandLine cl = CommandTree.forArgs("inspect", "x.gguf");
        assertThat((Object) cl.getSubcommands().get("inspect").getCommand()).isInstanceOf(InspectCommand.class);
        assertThat(cl.getSubcommands().get("quantize").getCommandSpec().options()).extracting(o -> o.longestName())
                .containsExactly("--verbose"); // a stub: only the option every command inherits
    }
}
