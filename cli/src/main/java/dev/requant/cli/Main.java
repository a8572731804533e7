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
        try {
            return cl.execute(args);
        } catch (OutOfMemoryError e) {
            // picocli hands only Exceptions to ErrorReporter; an Error would end in the JVM's stack trace
            cl.getErr().println("requant: error: out of memory (" + dev.requant.formats.TerminalText.escape(e.getMessage()) + "); the input needs more heap than -Xmx allows"
                    + " (requant's limits on what one file may ask for are in docs/limits.md)");
        } catch (StackOverflowError e) {
            cl.getErr().println("requant: internal error: stack overflow (run with --verbose for the stack trace)");
            if (Verbosity.verbose()) e.printStackTrace(cl.getErr());
        }
        cl.getErr().flush();
        return 1;
    }

    /** picocli's own handling of a usage error, with the message (which quotes the arguments) escaped. */
    private static int usageError(CommandLine.ParameterException ex, String[] args) {
        CommandLine cmd = ex.getCommandLine();
        java.io.PrintWriter err = cmd.getErr();
        err.println(cmd.getColorScheme().errorText(dev.requant.formats.TerminalText.escape(ex.getMessage())));
        if (!CommandLine.UnmatchedArgumentException.printSuggestions(ex, err)) cmd.usage(err, cmd.getColorScheme());
        CommandLine.Model.CommandSpec spec = cmd.getCommandSpec();
        return cmd.getExitCodeExceptionMapper() != null ? cmd.getExitCodeExceptionMapper().getExitCode(ex) : spec.exitCodeOnInvalidInput();
    }

    public static CommandLine commandLine() {
        CommandLine cl = new CommandLine(new RequantCommand());
        cl.setExecutionExceptionHandler(new ErrorReporter());
        cl.setParameterExceptionHandler(Main::usageError);
        cl.setCaseInsensitiveEnumValuesAllowed(true);
        return cl;
    }
}
