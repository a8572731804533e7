package dev.requant.ops.queue;

import dev.requant.formats.gguf.FileType;
import dev.requant.ops.BadInputException;
import dev.requant.ops.CancelledException;
import dev.requant.ops.EnvironmentException;
import dev.requant.ops.OperationContext;
import dev.requant.ops.OperationException;
import dev.requant.ops.Progress;
import dev.requant.ops.convert.Convert;
import dev.requant.ops.imatrix.CollectImatrix;
import dev.requant.ops.quantize.Quantize;
import dev.requant.queue.exec.BadStepInputException;
import dev.requant.queue.exec.ExecutorRegistry;
import dev.requant.queue.exec.StepContext;
import java.io.IOException;
import java.util.concurrent.CancellationException;

/**
 * The queue's executors for a real run: each step calls its operation directly ({@link Convert} to BF16,
 * {@link CollectImatrix}, {@link Quantize}), writing to the step's staging path, so a queue output is byte for byte what
 * the same {@code requant} command writes. Failures keep their type: bad input fails the step at once
 * ({@link BadStepInputException}), the environment's failures are retried, cancellation stops the attempt. Progress
 * and notices go to the step (queue status, queue log).
 */
public final class OperationExecutors {
    private OperationExecutors() {}

    public static ExecutorRegistry registry() {
        return ExecutorRegistry.builder()
                .describedAs("requant operations")
                .convert((w, ctx) -> run(ctx, "convert " + w.source() + " --type bf16",
                        c -> new Convert().run(Convert.Request.of(w.source(), w.output(), FileType.BF16), c)))
                .imatrix((w, ctx) -> run(ctx, "imatrix " + w.model() + " --text " + w.calibration(),
                        c -> new CollectImatrix().run(CollectImatrix.Request.of(w.model(), w.calibration(), w.output()), c)))
                .quantize((w, ctx) -> {
                    Quantize.Request q = Quantize.Request.of(w.model(), w.output(), w.type());
                    if (w.imatrix().isPresent()) q = q.withImatrix(w.imatrix().get());
                    Quantize.Request request = q;
                    run(ctx, "quantize " + w.model() + " " + w.type() + w.imatrix().map(f -> " --imatrix " + f).orElse(""),
                            c -> new Quantize().run(request, c));
                })
                .build();
    }

    @FunctionalInterface
    private interface Call {
        Object run(OperationContext ctx) throws OperationException;
    }

    private static void run(StepContext step, String what, Call call) throws Exception {
        step.log("requant " + what);
        OperationContext ctx = new OperationContext(new StepProgress(step), step::log, step::cancelled);
        try {
            Object result = call.run(ctx);
            step.log("done: " + result);
        } catch (BadInputException e) {
            throw new BadStepInputException(e.getMessage(), e);
        } catch (CancelledException e) {
            throw new CancellationException(e.getMessage());
        } catch (EnvironmentException e) {
            throw new IOException(e.getMessage(), e);
        }
    }

    /** Each phase's fraction, as the step's progress (phases are short or long, so no weighting is attempted). */
    private static final class StepProgress implements Progress {
        private final StepContext step;
        private long total = 1;

        StepProgress(StepContext step) { this.step = step; }

        @Override public void begin(String phase, long total, String unit) {
            this.total = Math.max(1, total);
            step.progress(0);
        }

        @Override public void stepTo(long done) { step.progress(done, total); }

        @Override public void message(String text) {}
    }
}
