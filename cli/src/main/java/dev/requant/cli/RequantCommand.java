package dev.requant.cli;

import java.util.List;
import java.util.concurrent.Callable;
import picocli.CommandLine;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

// addMethodSubcommands = false on every command: none has @Command methods, and picocli would otherwise read the
// annotations of every method of each command class it builds, about 15 ms of a cold start (BENCHMARKS.md, "Two C2
// threads")
@Command(addMethodSubcommands = false, name = "requant",
        mixinStandardHelpOptions = true,
        versionProvider = VersionProvider.class,
        description = {
            "Hugging Face checkpoints (BF16, QAT, NVFP4) to GGUF files that llama.cpp runs, exactly.",
            "Results go to stdout, progress and logs to stderr. Exit codes: 0 ok, 1 failure, 2 usage error."
        })
public final class RequantCommand implements Callable<Integer> {
    /** The subcommands, in help order (then `help`); {@link CommandTree} adds them (all, or only the one a run needs). */
    static final List<Class<?>> SUBCOMMANDS = List.of(
            DemoCommand.class,
            InspectCommand.class,
            ConvertCommand.class,
            ExportCommand.class,
            QuantizeCommand.class,
            QatReportCommand.class,
            ImatrixCommand.class,
            EvalCommand.class,
            ReportCommand.class,
            QuantizeNvfp4Command.class,
            VerifyFp4Command.class,
            QueueCommand.class);

    // defaultValue: picocli then calls the setter at every parse, so a run without -v is quiet after one with it
    @Option(names = {"-v", "--verbose"}, scope = CommandLine.ScopeType.INHERIT, defaultValue = "false",
            description = "Debug logging and stack traces on errors.")
    void verbose(boolean v) { Verbosity.set(v); }

    @CommandLine.Spec
    CommandLine.Model.CommandSpec spec;

    @Override
    public Integer call() {
        spec.commandLine().usage(spec.commandLine().getOut());
        return 0;
    }
}
