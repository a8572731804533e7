package dev.requant.cli;

import picocli.CommandLine;

/** Entry point: runs the command, maps failures to exit codes (0 ok, 1 failure, 2 usage). */
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
        CommandLine cl = new CommandLine(new RequantCommand());
        cl.setExecutionExceptionHandler(new ErrorReporter());
        cl.setCaseInsensitiveEnumValuesAllowed(true);
        return cl;
    }
}
