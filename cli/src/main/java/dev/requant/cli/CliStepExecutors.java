package dev.requant.cli;

import dev.requant.queue.exec.ExecutorRegistry;
import dev.requant.queue.exec.StepContext;
import java.io.IOException;
import java.util.ArrayList;
import java.util.List;
import picocli.CommandLine;

/**
 * The queue's executors for a real run: each step runs the matching requant subcommand in this process (`convert
 * SOURCE --outtype bf16`, `imatrix MODEL --text CALIBRATION`, `quantize [--imatrix F] IN OUT TYPE`), writing to the
 * step's staging path, with the command's stdout and stderr going to the step's log. The commands are the same code a
 * user runs by hand, so a queue output is byte for byte what `requant` would write. A step is cancelled between
 * commands, not inside one; its progress is reported when it finishes.
 */
final class CliStepExecutors {
    private CliStepExecutors() {}

    static ExecutorRegistry registry() {
        return ExecutorRegistry.builder()
                .describedAs("requant CLI subcommands")
                .convert((w, ctx) -> run(ctx, "convert", w.source().toString(), "--outtype", "bf16", "-o", w.output().toString()))
                .imatrix((w, ctx) -> run(ctx, "imatrix", w.model().toString(), "--text", w.calibration().toString(),
                        "-o", w.output().toString()))
                .quantize((w, ctx) -> {
                    List<String> args = new ArrayList<>(List.of("quantize"));
                    w.imatrix().ifPresent(f -> args.addAll(List.of("--imatrix", f.toString())));
                    args.addAll(List.of(w.model().toString(), w.output().toString(), w.type().name()));
                    run(ctx, args.toArray(String[]::new));
                })
                .build();
    }

    private static void run(StepContext ctx, String... args) throws IOException {
        CommandLine cl = Main.commandLine();
        CommandLine sub = cl.getSubcommands().get(args[0]);
        // A build without the command (or whose command takes no MODEL/SOURCE) cannot run such a step: say so.
        if (sub == null || sub.getCommandSpec().positionalParameters().isEmpty()) {
            throw new UnsupportedOperationException("this requant build has no `" + args[0] + "` command yet, so "
                    + args[0] + " steps cannot run (see `requant --help`)");
        }
        ctx.log("requant " + String.join(" ", args));
        cl.setOut(ctx.logWriter());
        cl.setErr(ctx.logWriter());
        int rc = cl.execute(args);
        ctx.logWriter().flush();
        if (rc != 0) throw new IOException("requant " + args[0] + " exited with status " + rc + " (its output is in the step log)");
    }
}
