package dev.requant.cli;

import java.io.PrintStream;
import java.lang.foreign.FunctionDescriptor;
import java.lang.foreign.Linker;
import java.lang.foreign.ValueLayout;
import java.lang.invoke.MethodHandle;
import java.util.concurrent.atomic.AtomicInteger;
import me.tongfei.progressbar.ConsoleProgressBarConsumer;
import me.tongfei.progressbar.ProgressBar;
import me.tongfei.progressbar.ProgressBarBuilder;

/**
 * The one way commands show progress: a bar on stderr, only when stderr is a terminal (a pipe or a log file would
 * fill with redraws) and not turned off with --no-progress. Null means no bar. The bar is drawn by {@link BarLine},
 * which fits it to the terminal's width and shows rate and ETA only once they mean something.
 */
final class ProgressBars {
    private static final AtomicInteger ACTIVE = new AtomicInteger();
    private static final boolean STDERR_IS_TERMINAL = stderrIsTerminal();

    private ProgressBars() {}

    /**
     * A bar for TOTAL units of work counted in steps of UNITSIZE (bytes with "MiB" and 1 << 20, tokens with " tok"
     * and 1); the caller moves it with stepBy/stepTo and closes it.
     */
    static ProgressBar start(String task, long total, String unit, long unitSize, boolean noProgress) {
        if (noProgress || !STDERR_IS_TERMINAL) return null;
        ACTIVE.incrementAndGet();
        return new ProgressBarBuilder().setTaskName(task).setInitialMax(total)
                .setRenderer(new BarLine(unit, unitSize, System::nanoTime))
                .setConsumer(new Consumer(System.err)).setUpdateIntervalMillis(250).continuousUpdate().build();
    }

    /** Whether a bar is on screen (a log line must clear its line first, see {@link CliLog}). */
    static boolean active() { return ACTIVE.get() > 0; }

    /** Draws on stderr under the same lock as {@link CliLog}, the width read from the terminal on each draw. */
    private static final class Consumer extends ConsoleProgressBarConsumer {
        private final PrintStream err;
        private boolean closed;

        Consumer(PrintStream err) {
            super(err);
            this.err = err;
        }

        @Override
        public void accept(String line) {
            synchronized (err) {
                if (closed) return;
                super.accept(line);
                err.flush();
            }
        }

        @Override
        public void close() {
            synchronized (err) {
                if (closed) return;
                closed = true;
                ACTIVE.decrementAndGet();
                super.close();
            }
        }
    }

    /**
     * isatty(2), or what the launcher saw: the bar goes to stderr, so stderr decides (System.console() looks at stdin
     * and stdout).
     */
    private static boolean stderrIsTerminal() {
        Boolean launcherSaw = LauncherStderr.stderrWasTerminal();
        if (launcherSaw != null) return launcherSaw;
        try {
            Linker linker = Linker.nativeLinker();
            MethodHandle isatty = linker.downcallHandle(linker.defaultLookup().find("isatty").orElseThrow(),
                    FunctionDescriptor.of(ValueLayout.JAVA_INT, ValueLayout.JAVA_INT));
            return (int) isatty.invokeExact(2) == 1;
        } catch (Throwable e) {
            return System.console() != null;
        }
    }
}
