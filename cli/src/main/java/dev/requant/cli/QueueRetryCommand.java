package dev.requant.cli;

import dev.requant.queue.JobQueue;
import java.util.concurrent.Callable;
import picocli.CommandLine;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;

@Command(addMethodSubcommands = false, name = "retry", mixinStandardHelpOptions = true,
        description = {
            "Queue failed or cancelled steps again, with a fresh set of attempts.",
            "ID is a step (12, the status table's step column) or a job (j3: all its failed and cancelled steps).",
            "Retrying a step also re-queues the cancelled steps that need it."
        })
final class QueueRetryCommand implements Callable<Integer> {
    @Mixin
    QueueDbOption db;

    @Parameters(paramLabel = "ID", arity = "0..1", description = "Step id, or jN for a job.")
    String id;

    @Option(names = "--failed", description = "Every failed step (cancelled ones stay cancelled).")
    boolean failed;

    @CommandLine.Spec
    CommandLine.Model.CommandSpec spec;

    @Override
    public Integer call() throws Exception {
        if ((id == null) == !failed) throw new CommandLine.ParameterException(spec.commandLine(), "give either ID or --failed");
        JobQueue q = db.queue(false);
        int n;
        if (failed) {
            n = q.retryFailed();
        } else {
            QueueIds ids = QueueIds.parse(id);
            n = ids.job() ? q.retryJob(ids.id()) : q.retryStep(ids.id());
        }
        spec.commandLine().getOut().printf("queued again: %d step%s%n", n, n == 1 ? "" : "s");
        spec.commandLine().getOut().flush();
        return 0;
    }
}
