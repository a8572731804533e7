package dev.requant.queue.exec;

import java.io.PrintWriter;
import java.nio.file.Path;
import java.util.concurrent.CancellationException;

/**
 * What an executor gets besides its inputs: a progress callback (shown by {@code queue status} as progress and ETA),
 * a log kept in the database ({@code queue log}), and cancellation. A step is cancelled when the user cancels it, when
 * the worker loses its lease, or when the worker shuts down (SIGTERM); the executor then should stop soon, by
 * polling {@link #cancelled()} between units of work (a tensor, a chunk). Its thread is also interrupted.
 */
public interface StepContext {
    long stepId();

    /** 1 for the first run of the step, 2 for the first retry or takeover, ... */
    int attempt();

    /** The worker running the step, e.g. "host:1234". */
    String worker();

    /** The name the output will have once it is complete (for messages; write to {@link StepWork#output()}). */
    Path finalOutput();

    /** Fraction done, 0 to 1. Cheap: stored in memory and written to the database with the next heartbeat. */
    void progress(double fraction);

    default void progress(long done, long total) {
        progress(total <= 0 ? 0 : Math.min(1.0, (double) done / total));
    }

    /** Appends a line to the step's log. */
    void log(String line);

    /** The step's log as a writer (for a command's stdout/stderr); lines appear in {@code queue log}. */
    PrintWriter logWriter();

    boolean cancelled();

    default void checkCancelled() {
        if (cancelled()) throw new CancellationException("step " + stepId() + " was cancelled");
    }
}
