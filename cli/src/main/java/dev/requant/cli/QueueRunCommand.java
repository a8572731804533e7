package dev.requant.cli;

import dev.requant.formats.TerminalText;
import dev.requant.ops.queue.OperationExecutors;
import dev.requant.queue.QueueDatabase;
import dev.requant.queue.QueueWorker;
import dev.requant.queue.WorkerCapabilities;
import dev.requant.queue.WorkerConfig;
import dev.requant.queue.exec.StepKind;
import dev.requant.queue.exec.ExecutorRegistry;
import dev.requant.queue.exec.SyntheticExecutor;
import java.time.Duration;
import java.util.concurrent.Callable;
import picocli.CommandLine;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;

@Command(addMethodSubcommands = false, name = "run", mixinStandardHelpOptions = true,
        description = {
            "Work on the queue: lease steps, run them, record their outputs. Start one per machine (or more).",
            "A worker renews its leases while it runs; the step of a worker that dies is taken over by another",
            "worker once its lease expires (--lease). Failed steps are retried with exponential backoff.",
            "SIGTERM (Ctrl-C): running steps are stopped and their leases released at once, so they go back to",
            "the queue without waiting for the lease to expire; their partial outputs are discarded.",
            "Progress and logs go to stderr; a summary goes to stdout at the end."
        })
final class QueueRunCommand implements Callable<Integer> {
    @Mixin
    QueueDbOption db;

    @Option(names = "--workers", paramLabel = "N", defaultValue = "1", description = "Steps run at the same time by this process (default 1).")
    int workers;

    @Option(names = "--once", description = "Exit when nothing is left that could run, instead of waiting for new jobs.")
    boolean once;

    @Option(names = "--lease", paramLabel = "SECONDS", defaultValue = "60",
            description = "Lease length: a dead worker's step is taken over this long after its last heartbeat (default 60).")
    double leaseSeconds;

    @Option(names = "--poll", paramLabel = "SECONDS", defaultValue = "2", description = "How often an idle worker looks for work (default 2).")
    double pollSeconds;

    @Option(names = "--retry-delay", paramLabel = "SECONDS", defaultValue = "30",
            description = "Delay before the first retry of a failed step, doubled for each further one, at most 30 min (default 30).")
    double retryDelaySeconds;

    @Option(names = "--name", paramLabel = "NAME", description = "Worker name shown in status (default host:pid).")
    String name;

    @Option(names = "--gpu", description = "This machine has a GPU (checked at start): take imatrix steps too. Workers without it take only"
            + " convert and quantize steps, so the imatrix runs where it is fast.")
    boolean gpu;

    @Option(names = "--imatrix-on-cpu", description = "Take imatrix steps without a GPU, on the CPU (slow; for installations without GPUs).")
    boolean imatrixOnCpu;

    /** What runs the steps. */
    enum Executor { REQUANT, SYNTHETIC }

    @Option(names = "--executor", paramLabel = "EXECUTOR", defaultValue = "requant",
            description = {"${COMPLETION-CANDIDATES}. requant (default): steps run requant's convert, imatrix and quantize operations.",
                "synthetic: every step writes a small deterministic file instead (to try a queue setup end to end)."})
    Executor executor;

    @Option(names = "--synthetic-settings", hidden = true, defaultValue = "duration=200")
    String syntheticSettings;

    @CommandLine.Spec
    CommandLine.Model.CommandSpec spec;

    @Override
    public Integer call() throws Exception {
        ExecutorRegistry registry = switch (executor) {
            case REQUANT -> OperationExecutors.registry();
            case SYNTHETIC -> ExecutorRegistry.synthetic(SyntheticExecutor.parse(syntheticSettings));
        };
        if (leaseSeconds < 1) throw new UserError("--lease must be at least 1 second");
        WorkerConfig config = WorkerConfig.defaults()
                .withThreads(workers)
                .withOnce(once)
                .withLease(seconds(leaseSeconds))
                .withPoll(seconds(pollSeconds))
                .withBackoff(seconds(retryDelaySeconds), Duration.ofMinutes(30));
        if (name != null) config = config.withName(name);
        if (gpu && executor == Executor.REQUANT) {
            String why = dev.requant.cuda.CudaDevice.unavailableReason();
            if (why != null) throw new UserError("--gpu: this machine cannot run CUDA (" + why + "); leave --gpu off, or use --imatrix-on-cpu");
        }
        WorkerCapabilities can = WorkerCapabilities.of(gpu, imatrixOnCpu);
        spec.commandLine().getErr().printf("worker %s takes %s steps%s%n", TerminalText.escape(config.name()), can.describe(),
                can.takes(StepKind.IMATRIX) ? "" : " (imatrix steps are left to workers started with --gpu)");
        spec.commandLine().getErr().flush();
        QueueDatabase database = db.open(true);
        QueueWorker worker = new QueueWorker(database, registry, config).capabilities(can);
        Thread hook = new Thread(worker::shutdown, "requant-queue-shutdown");
        Runtime.getRuntime().addShutdownHook(hook);
        QueueWorker.Summary s = worker.run();
        try {
            Runtime.getRuntime().removeShutdownHook(hook);
        } catch (IllegalStateException shuttingDown) {
            // the hook is running: it releases the leases
        }
        spec.commandLine().getOut().printf("worker %s: %d done, %d skipped (already there), %d failed, %d to retry, %d released, %d lost%n",
                TerminalText.escape(config.name()), s.done(), s.skipped(), s.failed(), s.retrying(), s.released(), s.lost());
        spec.commandLine().getOut().flush();
        return 0;
    }

    private static Duration seconds(double s) {
        return Duration.ofMillis(Math.round(s * 1000));
    }
}
