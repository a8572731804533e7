package dev.requant.cli;

import dev.requant.formats.TerminalText;
import dev.requant.converter.PlannedTensor;
import dev.requant.converter.qat.LatticeStats;
import dev.requant.converter.qat.QatPolicy;
import dev.requant.formats.ggml.GgmlType;
import dev.requant.formats.gguf.FileType;
import dev.requant.ops.OperationContext;
import dev.requant.ops.OperationException;
import dev.requant.ops.convert.Convert;
import java.io.PrintWriter;
import java.nio.file.Path;
import java.util.Locale;
import java.util.Map;
import java.util.concurrent.Callable;
import picocli.CommandLine;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;

@Command(addMethodSubcommands = false, name = "convert", mixinStandardHelpOptions = true,
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

    @Option(names = {"--type", "--outtype"}, paramLabel = "TYPE", defaultValue = "auto", converter = TypeNames.ConvertType.class,
            completionCandidates = TypeNames.ConvertTypes.class,
            description = "Type of the 2-D weights: ${COMPLETION-CANDIDATES} (auto: the checkpoint's float type; BF16 for Gemma). "
                    + "1-D tensors and norms are always F32. Default: ${DEFAULT-VALUE}.")
    FileType type;

    @Option(names = "--qat", paramLabel = "MODE", defaultValue = "auto",
            description = "With --type q4_0 (or q8_0): encode quantization-aware-trained weights on their own Q4_0 (Q8_0) lattice: ${COMPLETION-CANDIDATES}. "
                    + "auto measures each tensor and uses the lattice where it fits (q4_0 embeddings/output: else Q8_0), on forces it, off is llama.cpp's "
                    + "encoder. Default: ${DEFAULT-VALUE}.")
    QatPolicy.Mode qat;

    @Option(names = "--token-embedding-type", paramLabel = "TYPE", converter = TypeNames.Ggml.class,
            description = "Type of token_embd and per_layer_token_embd (llama-quantize's flag).")
    GgmlType tokenEmbeddingType;

    @Option(names = "--output-tensor-type", paramLabel = "TYPE", converter = TypeNames.Ggml.class,
            description = "Type of output.weight (llama-quantize's flag).")
    GgmlType outputTensorType;

    @Option(names = "--model-name", paramLabel = "NAME", description = "general.name (default: from the model card, config.json or the folder name).")
    String modelName;

    @Option(names = "--nvfp4-fallback", paramLabel = "TYPE", converter = TypeNames.ConvertType.class,
            description = "NVFP4 checkpoints: write the NVFP4 weights whose per-tensor scale llama.cpp does not apply (Gemma 3's FFN) "
                    + "and that cannot be folded into their block scales as TYPE (bf16, f16, f32, q8_0) instead of NVFP4 with a shifted split. "
                    + "Exact in llama.cpp, larger. Default: keep NVFP4.")
    FileType nvfp4Fallback;

    @Option(names = "--nvfp4-upstream-split",
            description = "NVFP4 checkpoints: keep every block scale as stored and the per-tensor scale in .scale, as convert_hf_to_gguf.py does "
                    + "(Gemma 3 GGUFs written so give NaN in llama.cpp's CPU backend).")
    boolean nvfp4UpstreamSplit;

    @Option(names = "--mmproj", description = "Write the multimodal projector (vision tower + projector) GGUF that llama.cpp's mtmd loads, "
            + "as convert_hf_to_gguf.py --mmproj (Gemma 3 SigLIP; Gemma 4 vision + audio; Gemma 4 unified), instead of the text model.")
    boolean mmproj;

    @Option(names = "--fp8-as-q8", description = "FP8 checkpoints: write the FP8 weights as Q8_0 whatever --type is (convert_hf_to_gguf.py's flag).")
    boolean fp8AsQ8;

    @CommandLine.Mixin
    SplitOptions split;

    @Option(names = "--dry-run", description = "Print the plan (each tensor, its GGUF name, shape, type and the rule that chose it) and write nothing.")
    boolean dryRun;

    @Option(names = {"-t", "--threads"}, paramLabel = "N", description = "Threads that encode quantized tensors (default: all cores; the output does not depend on it).")
    Integer threads;

    @Option(names = "--no-progress", description = "No progress bar on stderr.")
    boolean noProgress;

    @CommandLine.Spec
    CommandLine.Model.CommandSpec spec;

    @Override
    public Integer call() throws OperationException {
        if (!dryRun && out == null) throw new CommandLine.ParameterException(spec.commandLine(), "missing -o OUT.gguf (or use --dry-run)");
        PrintWriter stdout = spec.commandLine().getOut();
        Convert.Request request = new Convert.Request(dir, out, type, qat, tokenEmbeddingType, outputTensorType, modelName,
                nvfp4Fallback, nvfp4UpstreamSplit, threads != null ? threads : Runtime.getRuntime().availableProcessors(), mmproj, fp8AsQ8,
                split.limit(spec.commandLine()));
        Convert convert = new Convert();
        if (!dryRun && VectorRelaunch.possible()) { // started without the Vector API module (see VectorRelaunch)
            // a lattice's solver has a vector path; other plans are made to judge only where they may encode
            boolean pays = Convert.latticeMayRun(request);
            if (!pays && Convert.mayEncode(request)) {
                try (Convert.Planned p = convert.plan(request, OperationContext.quiet())) {
                    pays = Convert.vectorApiPays(request, p.plan());
                }
            }
            if (pays) return VectorRelaunch.run(spec);
        }
        OperationContext ctx = CliContext.of(spec.commandLine().getErr(), noProgress);
        if (dryRun) {
            try (Convert.Planned p = convert.plan(request, ctx)) {
                printPlan(p, stdout);
            }
            stdout.flush();
            return 0;
        }
        printResult(convert.run(request, ctx), stdout);
        stdout.flush();
        return 0;
    }

    /** The summary of a finished conversion (also the demo's). */
    static void printResult(Convert.Result r, PrintWriter stdout) {
        if (r.files().size() > 1) stdout.printf("%d files: %s ...%n", r.files().size(), TerminalText.escape(r.output().toString()));
        stdout.printf("%s: %s, %d tensors, %d bytes of tensor data, %s (%.1f s, %.0f MB/s)%n", TerminalText.escapeEach(r.output(), r.arch(), r.tensors(),
                r.dataBytes(), r.types(), r.seconds(), r.dataBytes() / 1e6 / Math.max(r.seconds(), 1e-9)));
        Nvfp4Summary.print(r.nvfp4Kept(), r.nvfp4Dequantized(), stdout);
        for (String s : r.surprises()) stdout.println("note: " + TerminalText.escape(s));
        if (!r.lattice().isEmpty()) printLattice(r.lattice(), stdout);
    }

    /** What the lattice reproduced, per tensor class: the one-screen answer to "did QAT survive?". */
    static void printLattice(Map<String, LatticeStats> classes, PrintWriter out) {
        out.println();
        out.println("QAT lattice (exact = the Q4_0 / Q8_0 block dequantizes to the stored weights bit for bit):");
        TextTable t = new TextTable("class", ">blocks", ">exact", "rule", "scales", ">max error of the rest");
        for (var e : classes.entrySet()) {
            LatticeStats s = e.getValue();
            t.row(e.getKey(), s.blocks(), String.format(Locale.ROOT, "%.4f%%", 100 * s.exactFraction()), s.dominantRule().label(),
                    s.scaleDtype(), s.inexactBlocks() == 0 ? "-" : String.format(Locale.ROOT, "%.3g", s.maxAbsError()));
        }
        t.print(out, "  ");
    }

    static void printPlan(Convert.Planned planned, PrintWriter out) {
        var plan = planned.plan();
        out.printf("%s (%s) -> GGUF %s, --type %s, %d tensors, %d bytes of tensor data, %d metadata keys%n", TerminalText.escapeEach(plan.config().dir(),
                plan.config().hfClass(), plan.metadata().architecture().orElse(plan.config().arch().ggufName()), plan.settings().outType().cliName(),
                plan.tensors().size(), plan.dataBytes(), plan.metadata().size()));
        if (plan.vocabulary() == null) {
            out.println("vocabulary: none (a projector file)");
        } else {
            out.printf("vocabulary: %s, %d tokens%n", plan.vocabulary().kind() == dev.requant.converter.Vocabulary.Kind.GEMMA4_BPE
                    ? "gemma4 BPE (tokenizer.json)" : "SentencePiece (tokenizer.model)", plan.vocabulary().size());
        }
        if (!plan.dropped().isEmpty()) out.printf("left out: %d vision/audio tensors (mmproj), e.g. %s%n", plan.dropped().size(), TerminalText.escape(plan.dropped().getFirst()));
        Nvfp4Summary.print(dev.requant.converter.Nvfp4Planning.kept(plan), dev.requant.converter.Nvfp4Planning.dequantized(plan), out);
        for (String s : planned.surprises()) out.println("note: " + TerminalText.escape(s));
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
