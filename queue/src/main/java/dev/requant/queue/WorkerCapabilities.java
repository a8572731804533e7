package dev.requant.queue;

import dev.requant.queue.exec.StepKind;
import java.util.EnumSet;
import java.util.Set;
import java.util.stream.Collectors;

/**
 * The step kinds a worker takes, as it declares them ({@code queue run --gpu}): imatrix steps run the model over the
 * calibration text and belong on a machine with a GPU; converting and quantizing need only CPUs and disks, so every
 * worker takes them. A worker without a GPU can still be told to take imatrix steps on its CPU
 * ({@code --imatrix-on-cpu}, for installations without GPUs).
 */
public record WorkerCapabilities(Set<StepKind> kinds) {
    public static final WorkerCapabilities ALL = new WorkerCapabilities(EnumSet.allOf(StepKind.class));

    public WorkerCapabilities {
        if (kinds.isEmpty()) throw new IllegalArgumentException("a worker must take at least one kind of step");
        kinds = Set.copyOf(kinds);
    }

    /** A worker with or without a GPU; {@code imatrixOnCpu} lets one without a GPU take imatrix steps too. */
    public static WorkerCapabilities of(boolean gpu, boolean imatrixOnCpu) {
        return gpu || imatrixOnCpu ? ALL : new WorkerCapabilities(EnumSet.of(StepKind.CONVERT, StepKind.QUANTIZE));
    }

    public boolean takes(StepKind k) { return kinds.contains(k); }

    /** The SQL condition on {@code s.kind} (labels are fixed identifiers, so they are inlined). */
    String sqlCondition(String column) {
        if (kinds.size() == StepKind.values().length) return "1 = 1";
        return column + " IN (" + kinds.stream().map(k -> "'" + k.label() + "'").sorted().collect(Collectors.joining(", ")) + ")";
    }

    /** For logs and status: "convert, imatrix, quantize". */
    public String describe() {
        return kinds.stream().map(StepKind::label).sorted().collect(Collectors.joining(", "));
    }
}
