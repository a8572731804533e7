package dev.requant.cli;

/** A problem with what the user asked for (not a bug): reported as one line, exit code 1. */
public class UserError extends RuntimeException {
    public UserError(String message) { super(message); }

    public UserError(String message, Throwable cause) { super(message, cause); }
}
