package dev.requant.cli;

import dev.requant.formats.TerminalText;
import dev.requant.ops.OperationContext;
import dev.requant.ops.Progress;
import java.io.PrintWriter;
import me.tongfei.progressbar.ProgressBar;

/**
 * The operation context of a command run by hand: progress as bars on stderr (unless --no-progress or not at a
 * terminal, see {@link ProgressBars}), notices as {@code requant: warning: ...} lines on stderr, never cancelled from
 * inside (Ctrl-C ends the JVM; outputs are written atomically).
 */
final class CliContext {
    private CliContext() {}

    static OperationContext of(PrintWriter err, boolean noProgress) {
        StartupReport.workStarts(err);
        KernelWarmUp.start();
        return new OperationContext(noProgress ? Progress.NONE : new BarProgress(), line -> {
            err.println("requant: warning: " + TerminalText.escape(line));
            err.flush();
        }, () -> false);
    }

    /** One bar per phase. */
    private static final class BarProgress implements Progress {
        private ProgressBar bar;

        @Override public void begin(String phase, long total, String unit) {
            end();
            bar = ProgressBars.start(TerminalText.escape(phase), total, " " + unit, 1, false);
        }

        @Override public void stepTo(long done) { if (bar != null) bar.stepTo(done); }

        @Override public void message(String text) { if (bar != null) bar.setExtraMessage(TerminalText.escape(text)); }

        @Override public void end() {
            if (bar != null) bar.close();
            bar = null;
        }
    }
}
