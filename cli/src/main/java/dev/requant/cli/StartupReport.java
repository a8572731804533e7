package dev.requant.cli;

import java.io.PrintWriter;
import java.time.Duration;
import java.time.Instant;

/**
 * With {@code REQUANT_STARTUP_REPORT=1}, one stderr line at the moment a command's work begins: how long after the
 * launcher started (it exports {@code REQUANT_LAUNCHED_AT}, bash's microsecond clock; the process start time the JDK
 * reports is derived from the boot time in whole seconds, too coarse for this). bench/startup.sh reads it; the issue's
 * target is "any command's work starting within 0.5 s".
 */
final class StartupReport {
    private static boolean reported;

    private StartupReport() {}

    static void workStarts(PrintWriter err) {
        if (reported || !"1".equals(System.getenv("REQUANT_STARTUP_REPORT"))) return;
        reported = true;
        String launched = System.getenv("REQUANT_LAUNCHED_AT");
        if (launched == null || !launched.matches("\\d+[.,]\\d{6}")) return;
        String[] p = launched.split("[.,]");
        Instant start = Instant.ofEpochSecond(Long.parseLong(p[0]), Long.parseLong(p[1]) * 1000);
        err.println("requant: startup: work starts " + Duration.between(start, Instant.now()).toMillis() + " ms after the launcher started");
        err.flush();
    }
}
