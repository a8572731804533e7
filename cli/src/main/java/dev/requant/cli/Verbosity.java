package dev.requant.cli;

/** Whether --verbose was given; set once while parsing, read by the error reporter and {@link CliLog}. */
final class Verbosity {
    private static volatile boolean verbose;

    private Verbosity() {}

    static boolean verbose() { return verbose || System.getenv("REQUANT_DEBUG") != null; }

    static void set(boolean v) {
        verbose = v;
    }
}
