package dev.requant.queue.exec;

/**
 * Does the work of one kind of step. Must write the complete result to {@link StepWork#output()} and return, or throw.
 * A thrown exception fails the attempt: the step is retried with exponential backoff until its retry limit, and the
 * message is kept as the step's error. Three exceptions fail the step at once, without retries, because waiting does
 * not help: {@link BadStepInputException} (the step's input is bad; the one-line reason becomes the step's error),
 * {@code FormatException} (a bad input file) and {@link UnsupportedOperationException} (this build cannot run the
 * step). Honour {@link StepContext#cancelled()}: throw {@link java.util.concurrent.CancellationException}.
 * Executors must be safe to run again on the same inputs (a step whose worker
 * died is run again by another worker) and should produce the same bytes each time.
 */
@FunctionalInterface
public interface StepExecutor<W extends StepWork> {
    void execute(W work, StepContext context) throws Exception;
}
