package dev.requant.queue;

import java.util.Locale;

/** The stored state of a step. Display states (waiting, blocked, backoff) are derived in {@link QueueStatus}. */
public enum StepState {
    QUEUED, RUNNING, DONE, FAILED, CANCELLED;

    public String label() { return name().toLowerCase(Locale.ROOT); }

    public static StepState ofLabel(String s) { return valueOf(s.toUpperCase(Locale.ROOT)); }

    public boolean finished() { return this == DONE || this == FAILED || this == CANCELLED; }
}
