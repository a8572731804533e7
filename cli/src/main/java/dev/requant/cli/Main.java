package dev.requant.cli;

import picocli.CommandLine;

/** Entry point: runs the command, maps failures to exit codes (0 ok, 1 failure, 2 usage, 130 cancelled). */
public final class Main {
    private Main() {}

    public static void main(String[] args) {
        if (args.length == 1 && (args[0].equals("--version") || args[0].equals("-V"))) {
            // Without picocli: its model costs a cold JVM a quarter of a second, the version line nothing.
            for (String line : new VersionProvider().getVersion()) System.out.println(line);
            System.exit(0);
        }
        if (HelpCache.print(args)) System.exit(0);
        VectorRelaunch.endWithTheJvmThatHandedOver();
        KernelWarmUp.prepare(args); // its threads start with the work (CliContext)
        LauncherStderr.restore();
        System.exit(run(args));
    }

    /** Runs without exiting (tests). */
    public static int run(String... args) {
        CommandLine cl = CommandTree.forArgs(args);
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

    /** Every command (for runs of several commands in one JVM); a single run builds only its own, see {@link CommandTree}. */
    public static CommandLine commandLine() {
        return CommandTree.full();
    }
}
