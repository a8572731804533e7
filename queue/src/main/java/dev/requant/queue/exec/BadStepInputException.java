package dev.requant.queue.exec;

/**
 * A step's input is bad (a source that went missing or corrupt after {@code queue add}, a model the operation
 * refuses): the attempt fails and the step fails at once, without retries, since waiting does not help. Its message is
 * the one-line reason kept as the step's error.
 */
public final class BadStepInputException extends Exception {
    public BadStepInputException(String message, Throwable cause) {
        super(message, cause);
    }
}
