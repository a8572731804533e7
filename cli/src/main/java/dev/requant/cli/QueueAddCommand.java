package dev.requant.cli;

import dev.requant.formats.TerminalText;
import dev.requant.queue.JobPlan;
import dev.requant.queue.JobPlanner;
import dev.requant.queue.JobQueue;
import dev.requant.queue.JobRequest;
import java.io.PrintWriter;
import java.nio.file.Path;
import java.util.List;
import java.util.concurrent.Callable;
import picocli.CommandLine;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;

@Command(addMethodSubcommands = false, name = "add", mixinStandardHelpOptions = true,
        header = "Queue a job: one source into each of --types.",
        description = {
            "Queue a job: SOURCE (a Hugging Face folder or a GGUF file) to each of --types.",
            "Checked now, not hours later: the source must be readable, every type known, the imatrix readable.",
            "Outputs: OUT/NAME-BF16.gguf (base of an HF source), OUT/NAME.imatrix.gguf, OUT/NAME-TYPE.gguf",
            "(OUT/NAME-i1-TYPE.gguf for the i1 recipe). Imatrix steps run on workers started with --gpu.",
            "Jobs of the same source and --out share the base and the imatrix."
        })
final class QueueAddCommand implements Callable<Integer> {
    @Mixin
    QueueDbOption db;

    @Parameters(paramLabel = "SOURCE", description = "Hugging Face model folder or .gguf file.")
    Path source;

    @Option(names = "--types", split = ",", required = true, paramLabel = "TYPE[,TYPE...]",
            description = {"llama-quantize type names, any case (made with the job's imatrix when it has one), or recipes:",
                "static = Q8_0,Q6_K,Q5_K_M,Q5_K_S,Q4_K_M,Q4_K_S,Q3_K_L,Q3_K_M,Q3_K_S,Q2_K,IQ4_XS without the imatrix;",
                "i1 = Q6_K,Q5_K_M,Q5_K_S,Q4_K_M,Q4_K_S,Q4_0,IQ4_XS,IQ4_NL,Q3_K_L,Q3_K_M,Q3_K_S,IQ3_M,IQ3_S,IQ3_XS,IQ3_XXS,Q2_K,",
                "IQ2_M,IQ2_S,IQ2_XS,IQ2_XXS,IQ1_M,IQ1_S with the job's imatrix, named NAME-i1-TYPE.gguf;",
                "static:TYPE, i1:TYPE for one type; or a recipe file of such words (commas, spaces, newlines; # comments).",
                "This build makes: ${sys:requant.producible.types}."})
    List<String> types;

    @Option(names = "--imatrix", paramLabel = "auto|FILE|none", defaultValue = "none",
            description = "auto: compute one from the base over --calibration; FILE: use this imatrix; none (default).")
    String imatrix;

    @Option(names = "--calibration", paramLabel = "FILE", description = "Calibration text for --imatrix auto.")
    Path calibration;

    @Option(names = "--out", paramLabel = "DIR", defaultValue = ".", description = "Output directory (default: current).")
    Path out;

    @Option(names = "--priority", paramLabel = "N", defaultValue = "0", description = "Higher runs first (default 0).")
    int priority;

    @Option(names = "--retries", paramLabel = "N", defaultValue = "2",
            description = "Retries of a failed step, with exponential backoff, before it is failed (default 2).")
    int retries;

    @CommandLine.Spec
    CommandLine.Model.CommandSpec spec;

    @Override
    public Integer call() throws Exception {
        if (retries < 0) throw new UserError("--retries must be 0 or more");
        JobPlan plan = JobPlanner.plan(new JobRequest(source, types, imatrix, calibration, out, priority, retries + 1));
        JobQueue queue = db.queue(true);
        JobQueue.AddResult r = queue.add(plan);
        PrintWriter w = spec.commandLine().getOut();
        w.printf("job %d: %s (%s) -> %s, %d step%s in %s%n", r.jobId(), TerminalText.escape(plan.modelName()),
                plan.sourceKind() == JobPlan.SourceKind.HF ? "Hugging Face folder" : "GGUF", TerminalText.escape(plan.outDir()),
                r.steps().size(), r.steps().size() == 1 ? "" : "s", TerminalText.escape(queue.database().description()));
        TextTable t = new TextTable(">step", "kind", "type", "output", "note");
        for (JobQueue.AddedStep s : r.steps()) {
            String type = switch (s.kind()) {
                case CONVERT -> "BF16";
                case IMATRIX -> "imatrix";
                case QUANTIZE -> s.type();
            };
            t.row(s.id(), s.kind().label(), type, s.output().getFileName(),
                    s.shared() ? "shared with an earlier job (" + s.state().label() + ")" : "");
        }
        t.print(w, "  ");
        w.flush();
        return 0;
    }
}
