package dev.requant.queue.exec;

import java.util.EnumMap;
import java.util.Map;
import java.util.Set;

/**
 * Which executor runs which kind of step. Built once per worker process, e.g.
 * <pre>{@code
 * ExecutorRegistry.builder()
 *     .convert((w, ctx) -> ...)
 *     .imatrix((w, ctx) -> ...)
 *     .quantize((w, ctx) -> ...)
 *     .build();
 * }</pre>
 * A kind without an executor fails its steps with a message that says so.
 */
public final class ExecutorRegistry {
    private final Map<StepKind, StepExecutor<StepWork>> executors;
    private final String description;

    private ExecutorRegistry(Map<StepKind, StepExecutor<StepWork>> executors, String description) {
        this.executors = Map.copyOf(executors);
        this.description = description;
    }

    public static Builder builder() { return new Builder(); }

    /** Every kind runs the deterministic {@link SyntheticExecutor} (tests, and trying a queue setup). */
    public static ExecutorRegistry synthetic(SyntheticExecutor executor) {
        return builder().convert(executor::execute).imatrix(executor::execute).quantize(executor::execute)
                .describedAs("synthetic").build();
    }

    public Set<StepKind> kinds() { return executors.keySet(); }

    public String description() { return description; }

    /** Runs {@code work} with the executor registered for its kind. */
    public void execute(StepWork work, StepContext context) throws Exception {
        StepExecutor<StepWork> e = executors.get(work.kind());
        if (e == null) {
            throw new UnsupportedOperationException("this requant build has no executor for " + work.kind().label()
                    + " steps (" + description + ")");
        }
        e.execute(work, context);
    }

    public static final class Builder {
        private final Map<StepKind, StepExecutor<StepWork>> executors = new EnumMap<>(StepKind.class);
        private String description = "custom";

        public Builder convert(StepExecutor<StepWork.Convert> e) { return put(StepKind.CONVERT, StepWork.Convert.class, e); }

        public Builder imatrix(StepExecutor<StepWork.Imatrix> e) { return put(StepKind.IMATRIX, StepWork.Imatrix.class, e); }

        public Builder quantize(StepExecutor<StepWork.Quantize> e) { return put(StepKind.QUANTIZE, StepWork.Quantize.class, e); }

        /** A short name for messages, e.g. "requant CLI" or "synthetic". */
        public Builder describedAs(String description) {
            this.description = description;
            return this;
        }

        private <W extends StepWork> Builder put(StepKind kind, Class<W> type, StepExecutor<W> e) {
            executors.put(kind, (work, ctx) -> e.execute(type.cast(work), ctx));
            return this;
        }

        public ExecutorRegistry build() { return new ExecutorRegistry(executors, description); }
    }
}
