package dev.requant.cli;

import dev.requant.formats.TerminalText;
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

@Command(addMethodSubcommands = false, name = "log", mixinStandardHelpOptions = true,
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
        out.printf("step %d: %s %s of %s (job %s)%n", s.id(), TerminalText.escape(s.kindLabel()), TerminalText.escape(s.type()),
                TerminalText.escape(s.modelName()), s.jobs());
        out.printf("  state   %s, attempt %d of %d%s%n", s.display(), s.attempts(), s.maxAttempts(),
                s.lostLeases() > 0 ? ", " + s.lostLeases() + " lost lease" + (s.lostLeases() == 1 ? "" : "s") + " (not counted as attempts)" : "");
        out.printf("  output  %s%n", TerminalText.escape(s.output()));
        if (s.outputSha256() != null) out.printf("  sha256  %s (%d bytes)%n", s.outputSha256(), s.outputSize());
        if (s.error() != null) out.printf("  error   %s%n", TerminalText.escape(s.error()));
        if (s.note() != null) out.printf("  note    %s%n", TerminalText.escape(s.note()));
        for (JobQueue.Attempt a : log.attempts()) {
            out.printf("%nattempt %d on %s, %s -> %s: %s%s%n", a.attempt(), TerminalText.escape(a.worker()), TIME.format(Instant.ofEpochMilli(a.startedAt())),
                    a.finishedAt() == null ? "..." : TIME.format(Instant.ofEpochMilli(a.finishedAt())),
                    a.outcome() == null ? "running" : TerminalText.escape(a.outcome()), a.error() == null ? "" : " (" + TerminalText.escape(a.error()) + ")");
            if (a.log() != null) {
                for (String line : a.log().split("\n")) out.println("  " + TerminalText.escape(line));
            }
        }
        out.flush();
        return 0;
    }
}
