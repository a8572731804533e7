package dev.requant.cli;

import dev.requant.converter.ConversionPlan;
import dev.requant.converter.TypeOverrides;
import dev.requant.converter.TypePolicy;
import dev.requant.converter.qat.LatticeStats;
import dev.requant.converter.qat.QatPolicy;
import dev.requant.formats.ggml.BlockCodec;
import dev.requant.formats.ggml.GgmlType;
import dev.requant.converter.ConversionSettings;
import dev.requant.converter.GemmaPlanner;
import dev.requant.converter.GgufConversion;
import dev.requant.converter.Nvfp4Planning;
import dev.requant.converter.OutType;
import dev.requant.converter.PlannedTensor;
import java.io.IOException;
import java.io.PrintWriter;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.concurrent.Callable;
import me.tongfei.progressbar.ProgressBar;
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

    @Option(names = "--qat", paramLabel = "auto|on|off", defaultValue = "auto",
            description = "With --type q4_0: encode quantization-aware-trained weights on their own Q4_0 lattice. auto measures each "
                    + "tensor and uses the lattice where it fits (embeddings/output: else Q8_0), on forces it, off is llama.cpp's "
                    + "max/-8 rule. Default: ${DEFAULT-VALUE}.")
    String qat;

    @Option(names = "--token-embedding-type", paramLabel = "TYPE", description = "Type of token_embd and per_layer_token_embd (llama-quantize's flag).")
    String tokenEmbeddingType;

    @Option(names = "--output-tensor-type", paramLabel = "TYPE", description = "Type of output.weight (llama-quantize's flag).")
    String outputTensorType;

    @Option(names = "--model-name", paramLabel = "NAME", description = "general.name (default: from the model card, config.json or the folder name).")
    String modelName;

    @Option(names = "--nvfp4-fallback", paramLabel = "TYPE",
            description = "NVFP4 checkpoints: write the NVFP4 weights whose per-tensor scale llama.cpp does not apply (Gemma 3's FFN) "
                    + "and that cannot be folded into their block scales as TYPE (bf16, f16, f32, q8_0) instead of NVFP4 with a shifted split. "
                    + "Exact in llama.cpp, larger. Default: keep NVFP4.")
    String nvfp4Fallback;

    @Option(names = "--nvfp4-upstream-split",
            description = "NVFP4 checkpoints: keep every block scale as stored and the per-tensor scale in .scale, as convert_hf_to_gguf.py does "
                    + "(Gemma 3 GGUFs written so give NaN in llama.cpp's CPU backend).")
    boolean nvfp4UpstreamSplit;

    @Option(names = "--dry-run", description = "Print the plan (each tensor, its GGUF name, shape, type and the rule that chose it) and write nothing.")
    boolean dryRun;

    @Option(names = "--threads", paramLabel = "N", description = "Threads that encode quantized tensors (default: all cores; the output does not depend on it).")
    Integer threads;

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
        OutType fallback = null;
        if (nvfp4Fallback != null) {
            try {
                fallback = OutType.parse(nvfp4Fallback);
            } catch (IllegalArgumentException e) {
                throw new CommandLine.ParameterException(spec.commandLine(), "--nvfp4-fallback: " + e.getMessage());
            }
            if (fallback == OutType.AUTO || fallback == OutType.Q4_0) {
                throw new CommandLine.ParameterException(spec.commandLine(), "--nvfp4-fallback: choose bf16, f16, f32 or q8_0");
            }
        }
        ConversionSettings settings = new ConversionSettings(t, modelName, new ConversionSettings.Nvfp4Options(fallback, nvfp4UpstreamSplit));
        QatPolicy qatPolicy;
        TypePolicy policy;
        try {
            qatPolicy = new QatPolicy(QatPolicy.Mode.parse(qat));
            policy = qatPolicy.apply(TypeOverrides.apply(TypePolicy.defaults(), overrideType(tokenEmbeddingType), overrideType(outputTensorType)));
        } catch (IllegalArgumentException e) {
            throw new CommandLine.ParameterException(spec.commandLine(), e.getMessage());
        }
        try (ConversionPlan plan = GemmaPlanner.plan(dir, settings, policy)) {
            Nvfp4Summary.warn(plan);
            if (dryRun) {
                printPlan(plan, stdout);
                stdout.flush();
                return 0;
            }
            long total = plan.dataBytes();
            try (ProgressBar bar = ProgressBars.start("convert", total, "MiB", 1 << 20, noProgress)) {
                long start = System.nanoTime();
                GgufConversion.write(plan, qatPolicy.metadata(plan), out, (tensor, bytes) -> { if (bar != null) bar.stepBy(bytes); },
                        w -> qatPolicy.fillIn(w, plan), threads != null ? threads : Runtime.getRuntime().availableProcessors());
                double s = (System.nanoTime() - start) / 1e9;
                stdout.printf("%s: %s, %d tensors, %d bytes of tensor data, %s (%.1f s, %.0f MB/s)%n", dev.requant.formats.TerminalText.escape(out), plan.config().arch().ggufName(),
                        plan.tensors().size(), total, Nvfp4Planning.kept(plan).isEmpty() ? plan.settings().outType().cliName() : "nvfp4 + "
                        + plan.settings().outType().cliName(), s, total / 1e6 / Math.max(s, 1e-9));
                Nvfp4Summary.print(plan, stdout);
            }
            if (!qatPolicy.latticeClasses().isEmpty()) printLattice(qatPolicy, stdout);
        }
        stdout.flush();
        return 0;
    }

    private static GgmlType overrideType(String name) {
        if (name == null) return null;
        GgmlType t = GgmlType.byName(name).orElseThrow(() -> new IllegalArgumentException("unknown GGML type '" + name + "'"));
        try {
            BlockCodec.of(t);
        } catch (UnsupportedOperationException e) {
            throw new IllegalArgumentException("requant cannot encode " + t.ggmlName());
        }
        return t;
    }

    /** What the lattice reproduced, per tensor class: the one-screen answer to "did QAT survive?". */
    static void printLattice(QatPolicy qat, PrintWriter out) {
        out.println();
        out.println("QAT lattice (exact = the Q4_0 block dequantizes to the stored weights bit for bit):");
        TextTable t = new TextTable("class", ">blocks", ">exact", "rule", "scales", ">max error of the rest");
        for (var e : qat.latticeClasses().entrySet()) {
            LatticeStats s = e.getValue();
            t.row(e.getKey(), s.blocks(), String.format(java.util.Locale.ROOT, "%.4f%%", 100 * s.exactFraction()), s.dominantRule().label(),
                    s.scaleDtype(), s.inexactBlocks() == 0 ? "-" : String.format(java.util.Locale.ROOT, "%.3g", s.maxAbsError()));
        }
        t.print(out, "  ");
    }

    static void printPlan(ConversionPlan plan, PrintWriter out) {
        out.printf("%s (%s) -> GGUF %s, --type %s, %d tensors, %d bytes of tensor data, %d metadata keys%n", dev.requant.formats.TerminalText.escape(plan.config().dir()),
                plan.config().hfClass(), plan.config().arch().ggufName(), plan.settings().outType().cliName(), plan.tensors().size(),
                plan.dataBytes(), plan.metadata().size());
        out.printf("vocabulary: %s, %d tokens%n", plan.vocabulary().kind() == dev.requant.converter.Vocabulary.Kind.GEMMA4_BPE
                ? "gemma4 BPE (tokenizer.json)" : "SentencePiece (tokenizer.model)", plan.vocabulary().size());
        if (!plan.dropped().isEmpty()) out.printf("left out: %d vision/audio tensors (mmproj), e.g. %s%n", plan.dropped().size(), dev.requant.formats.TerminalText.escape(plan.dropped().getFirst()));
        Nvfp4Summary.print(plan, out);
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
