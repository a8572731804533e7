package dev.requant.queue;

import java.io.IOException;

/** A job that `queue add` refuses (missing source, unknown type, unreadable imatrix, clashing outputs): one line. */
public final class JobRejectedException extends IOException {
    public JobRejectedException(String message) { super(message); }
}
