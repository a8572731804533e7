package dev.requant.cli;

import dev.requant.converter.ConversionPlan;
import dev.requant.converter.ConversionSettings;
import dev.requant.converter.GemmaPlanner;
import dev.requant.converter.GgufConversion;
import dev.requant.converter.OutType;
import dev.requant.converter.PlannedTensor;
import java.io.IOException;
import java.io.PrintWriter;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.concurrent.Callable;
import me.tongfei.progressbar.ProgressBar;
import me.tongfei.progressbar.ProgressBarBuilder;
import picocli.CommandLine;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;

@Command(name = "convert", mixinStandardHelpOptions = true,
        description = {
            "Convert a Hugging Face Gemma 3 / Gemma 4 folder to a GGUF file that llama.cpp runs.",
            "Metadata, tensor names, transforms and types follow convert_hf_to_gguf.py (--type bf16 output is byte-identical).",
            "Vision/audio towers are left out (they belong to an mmproj file). Tensors are streamed; the output appears only when complete."
        })
final class ConvertCommand implements Callable<Integer> {
    @Parameters(paramLabel = "HF_DIR", description = "Hugging Face model folder (config.json, *.safetensors, tokenizer files).")
    Path dir;

    @Option(names = {"-o", "--outfile"}, paramLabel = "OUT.gguf", description = "Output GGUF file (not needed with --dry-run).")
    Path out;

    @Option(names = {"--type", "--outtype"}, paramLabel = "TYPE", defaultValue = "auto",
            description = "Type of the 2-D weights: f32, f16, bf16, q8_0, q4_0 or auto (the checkpoint's float type; BF16 for Gemma). "
                    + "1-D tensors and norms are always F32. Default: ${DEFAULT-VALUE}.")
    String type;

    @Option(names = "--model-name", paramLabel = "NAME", description = "general.name (default: from the model card, config.json or the folder name).")
    String modelName;

    @Option(names = "--dry-run", description = "Print the plan (each tensor, its GGUF name, shape, type and the rule that chose it) and write nothing.")
    boolean dryRun;

    @Option(names = "--no-progress", description = "No progress bar on stderr.")
    boolean noProgress;

    @CommandLine.Spec
    CommandLine.Model.CommandSpec spec;

    @Override
    public Integer call() throws IOException {
        OutType t;
        try {
            t = OutType.parse(type);
        } catch (IllegalArgumentException e) {
            throw new CommandLine.ParameterException(spec.commandLine(), e.getMessage());
        }
        if (!dryRun && out == null) throw new CommandLine.ParameterException(spec.commandLine(), "missing -o OUT.gguf (or use --dry-run)");
        if (out != null && Files.isDirectory(out)) throw new UserError(out + ": is a directory; give the output file name");
        PrintWriter stdout = spec.commandLine().getOut();
        try (ConversionPlan plan = GemmaPlanner.plan(dir, new ConversionSettings(t, modelName))) {
            if (dryRun) {
                printPlan(plan, stdout);
                stdout.flush();
                return 0;
            }
            long total = plan.dataBytes();
            boolean showBar = !noProgress && System.console() != null;
            try (ProgressBar bar = showBar ? new ProgressBarBuilder().setTaskName("convert").setInitialMax(total)
                    .setUnit("MiB", 1 << 20).showSpeed().continuousUpdate().build() : null) {
                long start = System.nanoTime();
                GgufConversion.write(plan, out, (tensor, bytes) -> { if (bar != null) bar.stepBy(bytes); });
                double s = (System.nanoTime() - start) / 1e9;
                stdout.printf("%s: %s, %d tensors, %d bytes of tensor data, %s (%.1f s, %.0f MB/s)%n", out, plan.config().arch().ggufName(),
                        plan.tensors().size(), total, plan.settings().outType().cliName(), s, total / 1e6 / Math.max(s, 1e-9));
            }
        }
        stdout.flush();
        return 0;
    }

    static void printPlan(ConversionPlan plan, PrintWriter out) {
        out.printf("%s (%s) -> GGUF %s, --type %s, %d tensors, %d bytes of tensor data, %d metadata keys%n", plan.config().dir(),
                plan.config().hfClass(), plan.config().arch().ggufName(), plan.settings().outType().cliName(), plan.tensors().size(),
                plan.dataBytes(), plan.metadata().size());
        out.printf("vocabulary: %s, %d tokens%n", plan.vocabulary().kind() == dev.requant.converter.Vocabulary.Kind.GEMMA4_BPE
                ? "gemma4 BPE (tokenizer.json)" : "SentencePiece (tokenizer.model)", plan.vocabulary().size());
        if (!plan.dropped().isEmpty()) out.printf("left out: %d vision/audio tensors (mmproj), e.g. %s%n", plan.dropped().size(), plan.dropped().getFirst());
        out.println();
        TextTable t = new TextTable("source", "dtype", "gguf name", "shape (ne)", "type", "rule", "transform");
        for (PlannedTensor p : plan.tensors()) {
            String src = p.recipe().sources().isEmpty() ? "-" : String.join(" + ", p.recipe().sources());
            t.row(src, p.recipe().sourceType(), p.ggufName(), InspectCommand.shape(p.recipe().ne()), p.decision().type().name(),
                    p.decision().rule(), p.recipe().transform());
        }
        t.print(out, "");
    }
}
