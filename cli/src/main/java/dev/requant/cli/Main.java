package dev.requant.cli;

import dev.requant.formats.gguf.FileType;

import picocli.CommandLine;

/** Entry point: runs the command, maps failures to exit codes (0 ok, 1 failure, 2 usage, 130 cancelled). */
public final class Main {
    private Main() {}

    public static void main(String[] args) {
        KernelWarmUp.startFor(args);
        System.exit(run(args));
    }

    /** Runs without exiting (tests). */
    public static int run(String... args) {
        CommandLine cl = commandLine();
        return cl.execute(args);
    }

    public static CommandLine commandLine() {
        System.setProperty("requant.quantize.types", QuantizeCommand.typeTable());
        System.setProperty("requant.producible.types", dev.requant.formats.gguf.FileType.producibleNames());
        CommandLine cl = new CommandLine(new RequantCommand());
        ErrorReporter errors = new ErrorReporter();
        cl.setExecutionExceptionHandler(errors);
        cl.setParameterExceptionHandler(errors);
        cl.setCaseInsensitiveEnumValuesAllowed(true);
        return cl;
    }
}
