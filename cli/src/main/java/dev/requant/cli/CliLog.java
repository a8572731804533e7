package dev.requant.cli;

import dev.requant.formats.TerminalText;
import java.io.PrintStream;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.ConcurrentMap;
import org.slf4j.ILoggerFactory;
import org.slf4j.IMarkerFactory;
import org.slf4j.Logger;
import org.slf4j.Marker;
import org.slf4j.event.Level;
import org.slf4j.helpers.BasicMarkerFactory;
import org.slf4j.helpers.LegacyAbstractLogger;
import org.slf4j.helpers.MessageFormatter;
import org.slf4j.helpers.NOPMDCAdapter;
import org.slf4j.spi.MDCAdapter;
import org.slf4j.spi.SLF4JServiceProvider;

/**
 * The one place library log lines reach the user: stderr, in the command's own voice ({@code requant: warning: ...},
 * {@code requant: ...} for information), not a logger's format ({@code [main] WARN dev.requant...GemmaPlanner - }).
 * requant's own loggers speak from INFO up, other libraries' (Flyway, JDBC drivers) from WARN up; --verbose (or
 * REQUANT_DEBUG) turns on DEBUG for requant and INFO for the rest, with the logger's name and stack traces. A line
 * printed while a progress bar is drawn first clears the bar's line; the bar draws itself again below.
 */
public final class CliLog implements SLF4JServiceProvider {
    private final ILoggerFactory loggers = new Loggers();
    private final IMarkerFactory markers = new BasicMarkerFactory();
    private final MDCAdapter mdc = new NOPMDCAdapter();

    @Override public ILoggerFactory getLoggerFactory() { return loggers; }
    @Override public IMarkerFactory getMarkerFactory() { return markers; }
    @Override public MDCAdapter getMDCAdapter() { return mdc; }
    @Override public String getRequestedApiVersion() { return "2.0.99"; }
    @Override public void initialize() { }

    /** Prints one line on stderr, first clearing the line of a progress bar that is on screen. */
    static void println(String line) {
        PrintStream err = System.err;
        synchronized (err) {
            if (ProgressBars.active()) err.print("\r\033[K");
            err.println(line);
            err.flush();
        }
    }

    private static final class Loggers implements ILoggerFactory {
        private final ConcurrentMap<String, Logger> byName = new ConcurrentHashMap<>();

        @Override
        public Logger getLogger(String name) {
            return byName.computeIfAbsent(name, CliLogger::new);
        }
    }

    private static final class CliLogger extends LegacyAbstractLogger {
        private final boolean ours;

        CliLogger(String name) {
            this.name = name;
            this.ours = name.startsWith("dev.requant.");
        }

        private boolean enabled(Level level) {
            Level least = Verbosity.verbose() ? (ours ? Level.DEBUG : Level.INFO) : (ours ? Level.INFO : Level.WARN);
            return level.toInt() >= least.toInt();
        }

        @Override public boolean isTraceEnabled() { return enabled(Level.TRACE); }
        @Override public boolean isDebugEnabled() { return enabled(Level.DEBUG); }
        @Override public boolean isInfoEnabled() { return enabled(Level.INFO); }
        @Override public boolean isWarnEnabled() { return enabled(Level.WARN); }
        @Override public boolean isErrorEnabled() { return enabled(Level.ERROR); }
        @Override protected String getFullyQualifiedCallerName() { return null; }

        @Override
        protected void handleNormalizedLoggingCall(Level level, Marker marker, String pattern, Object[] args, Throwable t) {
            String message = MessageFormatter.basicArrayFormat(pattern, args);
            String prefix = switch (level) {
                case ERROR -> "requant: error: ";
                case WARN -> "requant: warning: ";
                case INFO -> "requant: ";
                case DEBUG, TRACE -> "requant: debug: ";
            };
            boolean verbose = Verbosity.verbose();
            String who = verbose || !ours ? "[" + name.substring(name.lastIndexOf('.') + 1) + "] " : "";
            String cause = t == null || verbose ? "" : " (" + t + ")";
            println(prefix + who + TerminalText.escape(message + cause));
            if (t != null && verbose) {
                synchronized (System.err) {
                    t.printStackTrace(System.err);
                }
            }
        }
    }
}
