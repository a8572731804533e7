package dev.requant.testmodels.hostile;

import dev.requant.formats.TerminalText;
import java.nio.file.Path;
import java.util.List;

/**
 * How one run of a {@link HostileCase} went, in the categories bench/hostile.sh counts. The good outcomes are
 * {@link Outcome#CLEAN_ERROR} (a refused input) and {@link Outcome#ACCEPTED} (an input that must be handled); every
 * other outcome is a defect.
 */
public record HostileVerdict(Outcome outcome, String detail) {
    public enum Outcome {
        CLEAN_ERROR("clean error"),
        ACCEPTED("accepted (as it must be)"),
        STACK_TRACE("stack trace or internal error"),
        HANG("hang (timed out)"),
        SUCCESS_ON_CORRUPTION("success on detectable corruption"),
        REFUSED_VALID("valid input refused"),
        OUTPUT_LEFT("refused, but left a file in the output folder"),
        RAW_CONTROL("raw control characters printed"),
        UNNAMED_FILE("clean error that names no file"),
        WRONG_MESSAGE("clean error, not the expected message");

        private final String label;

        Outcome(String label) { this.label = label; }

        public String label() { return label; }

        public boolean good() { return this == CLEAN_ERROR || this == ACCEPTED; }
    }

    public boolean good() { return outcome.good(); }

    /**
     * Judges a finished (or timed-out) run.
     *
     * @param leftovers files found in {dir}/out after the run (outputs and temporary files)
     */
    public static HostileVerdict judge(HostileCase.Run run, int exit, String out, String err, boolean timedOut, List<Path> leftovers,
                                       Path dir, Path base) {
        if (timedOut) return new HostileVerdict(Outcome.HANG, "no exit within the time limit");
        String trace = stackTrace(err);
        if (trace != null) return new HostileVerdict(Outcome.STACK_TRACE, trace);
        int bad = rawControl(out + err);
        if (bad >= 0) return new HostileVerdict(Outcome.RAW_CONTROL, String.format("U+%04X printed", bad));
        if (run.expect() == HostileCase.Expect.ACCEPT) {
            if (exit != 0) return new HostileVerdict(Outcome.REFUSED_VALID, firstLine(err));
            // the hostile text must have been printed, escaped: else the run proves nothing about escaping
            if (run.fragment() != null && !out.contains(run.fragment())) {
                return new HostileVerdict(Outcome.WRONG_MESSAGE, "output lacks " + run.fragment() + ": " + firstLine(out));
            }
            return new HostileVerdict(Outcome.ACCEPTED, "");
        }
        if (exit == 0) return new HostileVerdict(Outcome.SUCCESS_ON_CORRUPTION, "exit 0");
        if (!leftovers.isEmpty()) return new HostileVerdict(Outcome.OUTPUT_LEFT, leftovers.toString());
        String message = errorLine(err);
        if (message == null) return new HostileVerdict(Outcome.STACK_TRACE, "exit " + exit + " without an error line: " + firstLine(err));
        if (run.fragment() != null && !message.contains(run.fragment()) && !err.contains(run.fragment())) {
            return new HostileVerdict(Outcome.WRONG_MESSAGE, message + " (expected: " + run.fragment() + ")");
        }
        if (run.namesFile() && !message.contains(dir.toString()) && !message.contains(base.toString())) {
            return new HostileVerdict(Outcome.UNNAMED_FILE, message);
        }
        return new HostileVerdict(Outcome.CLEAN_ERROR, message);
    }

    /** The error: requant's "requant: error: ..." line, or the first line of a usage error (exit 2). */
    static String errorLine(String err) {
        for (String line : err.split("\n")) {
            if (line.startsWith("requant: error: ")) return line;
        }
        String first = firstLine(err);
        return first.isEmpty() ? null : first;
    }

    static String stackTrace(String err) {
        for (String line : err.split("\n")) {
            if (line.startsWith("\tat ") || line.startsWith("Exception in thread") || line.startsWith("requant: internal error")
                    || line.startsWith("# A fatal error") || line.contains("java.lang.OutOfMemoryError") || line.contains("StackOverflowError")) {
                return line;
            }
        }
        return null;
    }

    /**
     * The first character a terminal would interpret, or -1: C0 other than newline, DEL, C1, the Unicode line
     * separators and bidirectional overrides (the set requant escapes, {@link TerminalText#interpreted}).
     */
    static int rawControl(String s) {
        for (int i = 0; i < s.length(); i++) {
            char ch = s.charAt(i);
            if (ch != '\n' && TerminalText.interpreted(ch)) return ch;
        }
        return -1;
    }

    private static String firstLine(String s) {
        String t = s.strip();
        int nl = t.indexOf('\n');
        return nl < 0 ? t : t.substring(0, nl);
    }
}
