package dev.requant.queue;

import java.io.PrintWriter;
import java.io.Writer;
import java.time.LocalTime;
import java.time.format.DateTimeFormatter;

/**
 * The log of one attempt, kept in memory and written to the database with every heartbeat and at the end, so a
 * worker killed mid-step still leaves its log up to the last heartbeat. Keeps the last {@link #LIMIT} characters.
 */
final class StepLogBuffer {
    static final int LIMIT = 256 * 1024;
    private static final DateTimeFormatter TIME = DateTimeFormatter.ofPattern("HH:mm:ss.SSS");

    private final StringBuilder text = new StringBuilder();
    private long dropped;
    private boolean changed;

    synchronized void line(String line) {
        text.append(LocalTime.now().format(TIME)).append("  ").append(line);
        if (!line.endsWith("\n")) text.append('\n');
        if (text.length() > LIMIT) {
            int cut = text.length() - LIMIT;
            int nl = text.indexOf("\n", cut);
            cut = nl < 0 ? cut : nl + 1;
            text.delete(0, cut);
            dropped += cut;
        }
        changed = true;
    }

    synchronized String text() {
        return dropped == 0 ? text.toString() : "[... " + dropped + " earlier characters dropped ...]\n" + text;
    }

    /** The text if it changed since the last call, else null (heartbeats skip unchanged logs). */
    synchronized String textIfChanged() {
        if (!changed) return null;
        changed = false;
        return text();
    }

    /** A writer whose complete lines become log lines. */
    PrintWriter writer() {
        return new PrintWriter(new Writer() {
            private final StringBuilder pending = new StringBuilder();

            @Override
            public synchronized void write(char[] buf, int off, int len) {
                for (int i = off; i < off + len; i++) {
                    char ch = buf[i];
                    if (ch == '\n') {
                        line(pending.toString());
                        pending.setLength(0);
                    } else if (ch != '\r') {
                        pending.append(ch);
                    }
                }
            }

            @Override
            public synchronized void flush() {}

            @Override
            public synchronized void close() {
                if (!pending.isEmpty()) line(pending.toString());
                pending.setLength(0);
            }
        }, true);
    }
}
