package dev.requant.cli;

import dev.requant.queue.JobQueue;
import java.util.concurrent.Callable;
import picocli.CommandLine;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Parameters;

@Command(addMethodSubcommands = false, name = "cancel", mixinStandardHelpOptions = true,
        header = "Cancel a step and the steps that need it, or a whole job.",
        description = {
            "Cancel a step and the steps that need it, or a whole job (jN: its unfinished steps that no other job",
            "needs). A running step is stopped by its worker at its next heartbeat; its partial output is discarded."
        })
final class QueueCancelCommand implements Callable<Integer> {
    @Mixin
    QueueDbOption db;

    @Parameters(paramLabel = "ID", description = "Step id, or jN for a job.")
    String id;

    @CommandLine.Spec
    CommandLine.Model.CommandSpec spec;

    @Override
    public Integer call() throws Exception {
        JobQueue q = db.queue(false);
        QueueIds ids = QueueIds.parse(id);
        int n = ids.job() ? q.cancelJob(ids.id()) : q.cancelStep(ids.id());
        spec.commandLine().getOut().printf("cancelled: %d step%s%n", n, n == 1 ? "" : "s");
        spec.commandLine().getOut().flush();
        return 0;
    }
}
