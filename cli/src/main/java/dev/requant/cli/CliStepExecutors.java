package dev.requant.cli;

import dev.requant.queue.exec.ExecutorRegistry;
import dev.requant.queue.exec.StepContext;
import java.io.IOException;
import java.util.ArrayList;
import java.util.List;
import picocli.CommandLine;

/**
 * The queue's executors for a real run: each step runs the matching requant subcommand in this process, with its
 * stdout and stderr going to the step's log. A subcommand that this build does not have yet fails the step with a
 * message that says so.
 *
 * <p>This is the stop-gap until the converter, imatrix and quantize modules land: then each line below becomes a
 * direct call of that module's API (with {@code ctx::progress} and {@code ctx.cancelled()}), which also gives progress
 * and cancellation that a command line cannot.
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
        // `imatrix` exists for its file subcommands before it can compute one (`imatrix MODEL --text FILE`): a command
        // that takes no positional MODEL/SOURCE argument cannot run a step yet.
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
