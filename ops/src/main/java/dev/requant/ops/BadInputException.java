package dev.requant.ops;

/** The input files or the request are wrong: a corrupt or missing file, an impossible option. Never retried. */
public final class BadInputException extends OperationException {
    public BadInputException(String message) {
        super(message, null);
    }

    public BadInputException(String message, Throwable cause) {
        super(message, cause);
    }
}
