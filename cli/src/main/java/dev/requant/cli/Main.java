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
        KernelWarmUp.startFor(args); // first: its threads compile kernels while the rest starts
        LauncherStderr.restore();
        System.exit(run(args));
    }

    /** Runs without exiting (tests). */
    public static int run(String... args) {
        return CommandTree.forArgs(args).execute(args);
    }

    /** Every command (for runs of several commands in one JVM); a single run builds only its own, see {@link CommandTree}. */
    public static CommandLine commandLine() {
        return CommandTree.full();
    }
}
