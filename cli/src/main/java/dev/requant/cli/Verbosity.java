package dev.requant.cli;

/** Whether --verbose was given; set once while parsing, read by the error reporter and the log setup. */
final class Verbosity {
    private static volatile boolean verbose;

    private Verbosity() {}

    static boolean verbose() { return verbose || System.getenv("REQUANT_DEBUG") != null; }

    static void set(boolean v) {
        verbose = v;
        if (v) System.setProperty("org.slf4j.simpleLogger.defaultLogLevel", "debug");
    }
}
