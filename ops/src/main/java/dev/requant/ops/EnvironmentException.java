package dev.requant.ops;

/** The machine let the operation down: I/O errors, a full disk, no usable GPU. The same request may work later. */
public final class EnvironmentException extends OperationException {
    public EnvironmentException(String message, Throwable cause) {
        super(message, cause);
    }
}
