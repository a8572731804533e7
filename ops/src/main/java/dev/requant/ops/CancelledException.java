package dev.requant.ops;

/** The operation was asked to stop (Ctrl-C, SIGTERM, a cancelled or lost queue step) and did. */
public final class CancelledException extends OperationException {
    public CancelledException(String message, Throwable cause) {
        super(message, cause);
    }
}
