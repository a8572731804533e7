package dev.requant.cli;

import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.function.LongSupplier;
import me.tongfei.progressbar.ProgressBarRenderer;
import me.tongfei.progressbar.ProgressState;

/**
 * One progress line, at most as wide as the terminal: {@code eval  42% [#####     ] 120/284 tok ETA 12s 812 tok/s
 * chunk 3/8}. What does not fit goes, least useful first: the message is shortened, then dropped, then the rate,
 * then the ETA, so that the bar keeps at least ten columns; a finished bar shows the time it took. Rate and ETA are
 * measured from the first unit of work on, so the seconds before it (loading, JIT warm-up) neither show as
 * "0 tok/s" nor stretch the ETA; until a second reading after that unit they are not shown at all.
 */
final class BarLine implements ProgressBarRenderer {
    static final int MIN_BAR = 10;

    private final String unit;
    private final long unitSize;
    private final LongSupplier nanoTime;
    private final long startNanos;
    private long firstNanos = -1, firstCount;

    BarLine(String unit, long unitSize, LongSupplier nanoTime) {
        this.unit = unit.strip();
        this.unitSize = unitSize;
        this.nanoTime = nanoTime;
        this.startNanos = nanoTime.getAsLong();
    }

    @Override
    public String render(ProgressState p, int maxLength) {
        return render(p.getTaskName(), p.getCurrent(), p.getMax(), p.getExtraMessage(), maxLength);
    }

    synchronized String render(String task, long current, long max, String message, int width) {
        if (width <= 0) return "";
        long now = nanoTime.getAsLong();
        if (firstNanos < 0 && current > 0) {
            firstNanos = now;
            firstCount = current;
        }
        double rate = firstNanos >= 0 && current > firstCount && now > firstNanos
                ? (current - firstCount) / ((now - firstNanos) / 1e9) : Double.NaN;
        int pct = max > 0 ? (int) Math.min(100, 100 * current / max) : 0;
        String head = task + String.format(Locale.ROOT, " %3d%% [", pct);
        String count = "] " + amount(current, max) + "/" + amount(max, max) + " " + unit;
        // optional parts, dropped from the end when short of room
        List<String> more = new ArrayList<>(3);
        if (max > 0 && current >= max) {
            more.add("in " + duration((now - startNanos) / 1_000_000_000L));
        } else if (!Double.isNaN(rate)) {
            more.add("ETA " + duration(Math.round((max - current) / rate)));
            more.add(number(rate / unitSize) + " " + unit + "/s");
        }
        String msg = message == null ? "" : message.strip();
        if (!msg.isEmpty()) more.add(msg);
        while (true) {
            String right = count + (more.isEmpty() ? "" : " " + String.join(" ", more));
            int room = width - head.length() - right.length();
            if (room >= MIN_BAR || more.isEmpty()) {
                String line = head + bar(pct, Math.max(room, Math.min(MIN_BAR, width - head.length() - count.length()))) + right;
                return line.length() <= width ? line : line.substring(0, width);
            }
            int last = more.size() - 1;
            if (!msg.isEmpty() && more.get(last).equals(msg) && msg.length() + room - MIN_BAR >= 8) {
                msg = msg.substring(0, msg.length() + room - MIN_BAR - 1) + "~"; // shorten the message before dropping it
                more.set(last, msg);
            } else {
                if (more.get(last).equals(msg)) msg = "";
                more.remove(last);
            }
        }
    }

    /** In units; with one decimal where units are coarse (6.3 MiB, 0.9 M weights), whole otherwise. */
    private String amount(long v, long max) {
        if (unitSize == 1 || max / unitSize >= 100) return Long.toString(v / unitSize);
        return String.format(Locale.ROOT, "%.1f", (double) v / unitSize);
    }

    private static String bar(int pct, int width) {
        if (width <= 0) return "";
        int full = pct * width / 100;
        return "#".repeat(full) + " ".repeat(width - full);
    }

    private static String fit(String s, int width) {
        return s.length() <= width ? s : s.substring(0, width);
    }

    static String number(double v) {
        if (v >= 100) return String.format(Locale.ROOT, "%.0f", v);
        if (v >= 10) return String.format(Locale.ROOT, "%.1f", v);
        return String.format(Locale.ROOT, "%.2f", v);
    }

    static String duration(long seconds) {
        if (seconds < 60) return seconds + "s";
        if (seconds < 3600) return String.format(Locale.ROOT, "%dm%02ds", seconds / 60, seconds % 60);
        return String.format(Locale.ROOT, "%dh%02dm", seconds / 3600, seconds % 3600 / 60);
    }
}
