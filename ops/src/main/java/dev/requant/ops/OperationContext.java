package dev.requant.ops;

import java.util.Objects;
import java.util.concurrent.CancellationException;
import java.util.function.BooleanSupplier;
import java.util.function.Consumer;

/**
 * What an operation gets besides its request: where progress goes, where notices for the user go (warnings that do not
 * stop the work: the CLI prints them on stderr, the queue keeps them in the step log), and whether it should stop. An
 * operation polls {@link #checkCancelled()} between units of work (a tensor, a chunk).
 */
public record OperationContext(Progress progress, Consumer<String> notices, BooleanSupplier cancelled) {
    public OperationContext {
        Objects.requireNonNull(progress);
        Objects.requireNonNull(notices);
        Objects.requireNonNull(cancelled);
    }

    /** No progress, notices dropped, never cancelled (tests, nested calls). */
    public static OperationContext quiet() {
        return new OperationContext(Progress.NONE, s -> { }, () -> false);
    }

    public OperationContext withProgress(Progress p) {
        return new OperationContext(p, notices, cancelled);
    }

    /** A warning or remark for the user. */
    public void notice(String line) { notices.accept(line); }

    /**
     * Throws when the operation should stop. Unchecked, so that it can be thrown from inside library callbacks
     * (progress listeners of encoders and forward passes); {@link OperationException#classify} turns it into a
     * {@link CancelledException}.
     */
    public void checkCancelled() {
        if (cancelled.getAsBoolean()) throw new CancellationException("cancelled");
    }
}
