package dev.requant.cli;

import java.util.concurrent.Callable;
import picocli.CommandLine;
import picocli.CommandLine.Command;

@Command(addMethodSubcommands = false, name = "queue", mixinStandardHelpOptions = true,
        header = "Run many sources into many quant types as a crash-safe batch queue.",
        description = {
            "Batch requantization queue: many sources x many quant types, run by workers that may crash.",
            "State lives in a database: a SQLite file (default requant-queue.db) for one machine, or PostgreSQL",
            "(--db postgresql://...) for workers on several machines. A job expands to steps (convert to a BF16",
            "base GGUF, imatrix, one quantize per type) that share the base and the imatrix of a source."
        },
        subcommands = {
            QueueAddCommand.class,
            QueueRunCommand.class,
            QueueStatusCommand.class,
            QueueRetryCommand.class,
            QueueCancelCommand.class,
            QueueLogCommand.class
        })
final class QueueCommand implements Callable<Integer> {
    @CommandLine.Spec
    CommandLine.Model.CommandSpec spec;

    @Override
    public Integer call() {
        spec.commandLine().usage(spec.commandLine().getOut());
        return 0;
    }
}
