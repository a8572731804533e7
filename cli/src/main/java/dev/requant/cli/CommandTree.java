package dev.requant.cli;

import dev.requant.formats.gguf.FileType;
import java.util.Arrays;
import java.util.List;
import picocli.CommandLine;
import picocli.CommandLine.Command;
import picocli.CommandLine.Model.CommandSpec;

/**
 * Builds the requant command tree. Picocli reads every option of every command by reflection when it builds a tree;
 * on a cold JVM (picocli's Java 5 class files are interpreted and cannot be AOT-linked) that is most of a second for
 * all commands, before any work starts. A run needs only the command it runs: {@link #forArgs} builds that one in
 * full and the others as stubs holding the name and description that the top-level help lists.
 */
final class CommandTree {
    private CommandTree() {}

    /** Every command in full (tests, the demo and queue steps, which run several commands in one JVM). */
    static CommandLine full() {
        typeTables();
        CommandLine cl = new CommandLine(new RequantCommand());
        for (Class<?> c : RequantCommand.SUBCOMMANDS) cl.addSubcommand(c);
        return configure(cl);
    }

    /** The tree for one run: the command named in ARGS (or in `help COMMAND`) in full, the others as stubs. */
    static CommandLine forArgs(String... args) {
        List<String> named = commandWords(args);
        typeTables();
        CommandLine cl = new CommandLine(new RequantCommand());
        for (Class<?> c : RequantCommand.SUBCOMMANDS) {
            Command a = c.getAnnotation(Command.class);
            if (named.contains(a.name())) {
                cl.addSubcommand(c);
            } else {
                CommandSpec stub = CommandSpec.create().name(a.name());
                stub.usageMessage().description(a.description()).header(a.header());
                cl.addSubcommand(a.name(), stub);
            }
        }
        return configure(cl);
    }

    /** The words that may name a command: the first argument that is not an option, and the one after `help`. */
    static List<String> commandWords(String... args) {
        String[] words = Arrays.stream(args).filter(a -> !a.startsWith("-")).limit(2).toArray(String[]::new);
        if (words.length == 0) return List.of();
        return words[0].equals("help") && words.length > 1 ? List.of(words[1]) : List.of(words[0]);
    }

    /** The type lists that help texts show (${sys:requant.quantize.types}, ${sys:requant.producible.types}). */
    private static void typeTables() {
        System.setProperty("requant.quantize.types", QuantizeCommand.typeTable());
        System.setProperty("requant.producible.types", FileType.producibleNames());
    }

    private static CommandLine configure(CommandLine cl) {
        cl.addSubcommand(CommandLine.HelpCommand.class);
        ErrorReporter errors = new ErrorReporter();
        cl.setExecutionExceptionHandler(errors);
        cl.setParameterExceptionHandler(errors);
        cl.setCaseInsensitiveEnumValuesAllowed(true);
        return cl;
    }
}
