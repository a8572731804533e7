package dev.requant.cli;

import dev.requant.formats.TerminalText;
import dev.requant.queue.QueueStatus;
import dev.requant.queue.Sizes;
import java.io.PrintWriter;
import java.util.Locale;
import java.util.concurrent.Callable;
import java.util.stream.Collectors;
import picocli.CommandLine;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;

@Command(addMethodSubcommands = false, name = "status", mixinStandardHelpOptions = true,
        description = {
            "Show every step: job, source, type, state, worker, progress, ETA, output size; then a summary line.",
            "States: queued, waiting (for steps it needs), retrying (backing off after a failure), running, done,",
            "skipped (output already there with the recorded SHA-256), failed, cancelled, blocked (a step it needs",
            "failed or was cancelled)."
        })
final class QueueStatusCommand implements Callable<Integer> {
    @Mixin
    QueueDbOption db;

    @Option(names = "--json", description = "Print JSON (summary, jobs, steps) for scripts.")
    boolean json;

    @CommandLine.Spec
    CommandLine.Model.CommandSpec spec;

    @Override
    public Integer call() throws Exception {
        QueueStatus st = db.queue(false).status();
        PrintWriter out = spec.commandLine().getOut();
        if (json) {
            out.println(PrettyJson.mapper().writeValueAsString(st.toJson(PrettyJson.mapper())));
            out.flush();
            return 0;
        }
        TextTable t = new TextTable(">step", "job", "source", "type", "state", "worker", ">progress", ">ETA", ">size");
        for (QueueStatus.Step s : st.steps()) {
            String jobs = s.jobs().stream().map(String::valueOf).collect(Collectors.joining(","));
            String progress = s.state().name().equals("RUNNING") && s.progress() != null
                    ? String.format(Locale.ROOT, "%.0f%%", 100 * s.progress()) : "";
            String state = s.display();
            if (s.attempts() > 1 || state.equals("retrying") || state.equals("failed")) {
                state += " (" + s.attempts() + "/" + s.maxAttempts() + ")";
            }
            if (s.lostLeases() > 0) state += " [" + s.lostLeases() + " lost]";
            t.row(s.id(), jobs, s.modelName(), s.type(), state, s.worker() == null ? "" : s.worker(), progress,
                    s.etaSeconds() == null ? "" : Sizes.duration(s.etaSeconds()),
                    s.outputSize() == null || !s.state().name().equals("DONE") ? "" : Sizes.human(s.outputSize()));
        }
        if (!st.steps().isEmpty()) t.print(out, "");
        for (QueueStatus.Step s : st.steps()) {
            if (s.error() != null && !s.state().name().equals("DONE")) {
                out.printf("step %d: %s: %s%n", s.id(), TerminalText.escape(s.display()), TerminalText.escape(s.error()));
            }
        }
        out.println(TerminalText.escape(st.summaryLine()));
        out.flush();
        return 0;
    }
}
