package dev.requant.ops;

/**
 * How far an operation is. The CLI draws a bar, the queue stores a fraction with its heartbeat. An operation may run
 * several phases (tokenizing, then chunks; encoding, then hashing), each announced with {@link #begin}.
 */
public interface Progress {
    /** Reports nothing. */
    Progress NONE = new Progress() {
        @Override public void begin(String phase, long total, String unit) {}

        @Override public void stepTo(long done) {}

        @Override public void message(String text) {}
    };

    /** A new phase of {@code total} units (tokens, MiB, M weights, ...). */
    void begin(String phase, long total, String unit);

    /** Units of the current phase done so far. */
    void stepTo(long done);

    /** A short note beside the bar, e.g. "chunk 3/40". */
    void message(String text);

    /** The phase is over (a bar is closed). */
    default void end() {}
}
