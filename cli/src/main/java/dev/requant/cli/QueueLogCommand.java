package dev.requant.cli;

import dev.requant.queue.JobQueue;
import dev.requant.queue.QueueStatus;
import java.io.PrintWriter;
import java.time.Instant;
import java.time.ZoneId;
import java.time.format.DateTimeFormatter;
import java.util.concurrent.Callable;
import picocli.CommandLine;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Parameters;

@Command(name = "log", mixinStandardHelpOptions = true,
        header = "Show a step's state, error and output, and the log of every attempt.",
        description = {
            "Show a step's state, error and output, then every attempt: worker, times, outcome and its log",
            "(a running attempt's log is as of its last heartbeat)."
        })
final class QueueLogCommand implements Callable<Integer> {
    @Mixin
    QueueDbOption db;

    @Parameters(paramLabel = "ID", description = "Step id (the status table's step column).")
    String id;

    @CommandLine.Spec
    CommandLine.Model.CommandSpec spec;

    private static final DateTimeFormatter TIME = DateTimeFormatter.ofPattern("yyyy-MM-dd HH:mm:ss").withZone(ZoneId.systemDefault());

    @Override
    public Integer call() throws Exception {
        QueueIds ids = QueueIds.parse(id);
        if (ids.job()) throw new UserError("queue log takes a step id; `requant queue status` lists the steps of job " + ids.id());
        JobQueue.StepLog log = db.queue(false).log(ids.id());
        QueueStatus.Step s = log.step();
        PrintWriter out = spec.commandLine().getOut();
        out.printf("step %d: %s %s of %s (job %s)%n", s.id(), s.kind().label(), s.type(), s.modelName(), s.jobs());
        out.printf("  state   %s, attempt %d of %d%n", s.display(), s.attempts(), s.maxAttempts());
        out.printf("  output  %s%n", s.output());
        if (s.outputSha256() != null) out.printf("  sha256  %s (%d bytes)%n", s.outputSha256(), s.outputSize());
        if (s.error() != null) out.printf("  error   %s%n", s.error());
        if (s.note() != null) out.printf("  note    %s%n", s.note());
        for (JobQueue.Attempt a : log.attempts()) {
            out.printf("%nattempt %d on %s, %s -> %s: %s%s%n", a.attempt(), a.worker(), TIME.format(Instant.ofEpochMilli(a.startedAt())),
                    a.finishedAt() == null ? "..." : TIME.format(Instant.ofEpochMilli(a.finishedAt())),
                    a.outcome() == null ? "running" : a.outcome(), a.error() == null ? "" : " (" + a.error() + ")");
            if (a.log() != null) {
                for (String line : a.log().split("\n")) out.println("  " + line);
            }
        }
        out.flush();
        return 0;
    }
}
