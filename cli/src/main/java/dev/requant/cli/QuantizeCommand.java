package dev.requant.cli;

import dev.requant.converter.quantize.GgufQuantizer;
import dev.requant.converter.quantize.ImatrixInput;
import dev.requant.converter.quantize.PlannedQuantTensor;
import dev.requant.converter.quantize.QuantFileType;
import dev.requant.converter.quantize.QuantizePlan;
import dev.requant.converter.quantize.QuantizePlanner;
import dev.requant.converter.quantize.QuantizeSettings;
import dev.requant.converter.quantize.ScaleSearch;
import dev.requant.converter.quantize.TensorTypeOverride;
import dev.requant.formats.ggml.GgmlType;
import dev.requant.formats.gguf.GgufFile;
import dev.requant.formats.imatrix.ImatrixFilter;
import java.io.IOException;
import java.io.PrintWriter;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;
import java.util.concurrent.Callable;
import me.tongfei.progressbar.ProgressBar;
import picocli.CommandLine;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;

@Command(name = "quantize", mixinStandardHelpOptions = true,
        description = {
            "Quantize a GGUF file as llama-quantize does, bit for bit: the same per-tensor types (output/token_embd",
            "rules, attn_v/ffn_down promotions, row-size fallbacks), tensor order, metadata and bytes.",
            "Arguments as llama-quantize: IN.gguf [OUT.gguf] TYPE [NTHREADS]; without OUT the output is",
            "<dir of IN>/ggml-model-TYPE.gguf. The output appears only when complete.",
            "TYPE: Q4_0, Q4_1, Q5_0, Q5_1, Q8_0, Q4_K_S, Q4_K_M (Q4_K), Q5_K_S, Q5_K_M (Q5_K), Q6_K, MXFP4_MOE, F16, BF16, F32",
            "or the numeric llama_ftype."
        })
final class QuantizeCommand implements Callable<Integer> {
    @Parameters(paramLabel = "ARGS", arity = "2..4", description = "IN.gguf [OUT.gguf] TYPE [NTHREADS]")
    List<String> args;

    @Option(names = "--imatrix", paramLabel = "FILE", description = "Importance matrix (llama-imatrix GGUF or legacy .dat).")
    Path imatrix;

    @Option(names = "--include-weights", paramLabel = "NAME", description = "Use the imatrix only for weights whose name contains NAME (repeatable).")
    List<String> include = new ArrayList<>();

    @Option(names = "--exclude-weights", paramLabel = "NAME", description = "Do not use the imatrix for weights whose name contains NAME (repeatable).")
    List<String> exclude = new ArrayList<>();

    @Option(names = "--pure", description = "No k-quant mixture: every eligible tensor gets TYPE (row-size fallbacks still apply).")
    boolean pure;

    @Option(names = "--leave-output-tensor", description = "Leave output.weight un(re)quantized.")
    boolean leaveOutputTensor;

    @Option(names = "--output-tensor-type", paramLabel = "TYPE", description = "GGML type for output.weight (e.g. q8_0, q6_K, f16).")
    String outputTensorType;

    @Option(names = "--token-embedding-type", paramLabel = "TYPE", description = "GGML type for token_embd.weight.")
    String tokenEmbeddingType;

    @Option(names = "--tensor-type", paramLabel = "PATTERN=TYPE",
            description = "Quantize tensors whose name matches the regex PATTERN (lower-cased, searched anywhere) to TYPE; repeatable, first match wins.")
    List<String> tensorTypes = new ArrayList<>();

    @Option(names = "--allow-requantize", description = "Allow quantized input tensors (dequantized first; this loses quality).")
    boolean allowRequantize;

    @Option(names = {"-t", "--threads"}, paramLabel = "N", description = "Encoder threads (default: all processors; the output does not depend on it).")
    Integer threads;

    @Option(names = "--search", paramLabel = "MODE", defaultValue = "default",
            description = "Block scale search: default (llama.cpp's, bit for bit) or exhaustive (more candidates per block, never a "
                    + "worse importance-weighted error than llama.cpp's choice; see BENCHMARKS.md). Default: ${DEFAULT-VALUE}.")
    String search;

    @Option(names = "--dry-run", description = "Print the plan (each tensor: shape, from type, to type, the rule that chose it, sizes) and totals; write nothing.")
    boolean dryRun;

    @Option(names = "--no-progress", description = "No progress bar on stderr.")
    boolean noProgress;

    @CommandLine.Spec
    CommandLine.Model.CommandSpec spec;

    @Override
    public Integer call() throws IOException {
        Path in = Path.of(args.get(0));
        Path out;
        QuantFileType type;
        int next;
        Optional<QuantFileType> second = QuantFileType.parse(args.get(1));
        if (second.isPresent()) {
            type = second.get();
            Path dir = in.toAbsolutePath().getParent();
            out = dir.resolve("ggml-model-" + type.name() + ".gguf");
            next = 2;
        } else {
            if (args.size() < 3) throw usage("missing TYPE (" + QuantFileType.names() + ")");
            out = Path.of(args.get(1));
            type = QuantFileType.parse(args.get(2)).orElseThrow(() -> usage("invalid TYPE '" + args.get(2) + "' (" + QuantFileType.names() + ")"));
            next = 3;
        }
        if (args.size() > next + 1) throw usage("too many arguments: " + args.subList(next, args.size()));
        int nthreads = threads != null ? threads : Runtime.getRuntime().availableProcessors();
        if (args.size() > next) {
            try {
                nthreads = Integer.parseInt(args.get(next));
            } catch (NumberFormatException e) {
                throw usage("invalid nthread '" + args.get(next) + "'");
            }
        }
        if (nthreads < 1) nthreads = Runtime.getRuntime().availableProcessors(); // llama.cpp: <= 0 means all
        if (!include.isEmpty() && !exclude.isEmpty()) throw usage("--include-weights and --exclude-weights cannot be used together");
        QuantizeSettings s = QuantizeSettings.of(type).withThreads(nthreads).withPure(pure).withLeaveOutputTensor(leaveOutputTensor)
                .withAllowRequantize(allowRequantize)
                .withOutputTensorType(ggmlType("--output-tensor-type", outputTensorType))
                .withTokenEmbeddingType(ggmlType("--token-embedding-type", tokenEmbeddingType));
        List<TensorTypeOverride> overrides = new ArrayList<>();
        for (String tt : tensorTypes) {
            try {
                overrides.add(TensorTypeOverride.parse(tt));
            } catch (IllegalArgumentException e) {
                throw usage("--tensor-type: " + e.getMessage());
            }
        }
        s = s.withTensorTypes(overrides);
        try {
            s = s.withSearch(ScaleSearch.parse(search));
        } catch (IllegalArgumentException e) {
            throw usage(e.getMessage());
        }
        if (imatrix != null) s = s.withImatrix(ImatrixInput.load(imatrix, imatrix.toString(), new ImatrixFilter(include, exclude)));
        if (!dryRun && Files.exists(out) && Files.exists(in) && Files.isSameFile(in, out)) {
            throw new UserError("input and output files are the same: '" + in + "'");
        }
        if (!dryRun && Files.isDirectory(out)) throw new UserError(out + ": is a directory; give the output file name");

        PrintWriter stdout = spec.commandLine().getOut();
        try (GgufFile input = GgufFile.open(in)) {
            QuantizePlan plan = QuantizePlanner.plan(input, s);
            if (dryRun) {
                printPlan(plan, stdout);
                stdout.flush();
                return 0;
            }
            long total = plan.elements();
            long start = System.nanoTime();
            try (ProgressBar bar = ProgressBars.start("quantize", total / 1_000_000, "M weights", 1, noProgress)) {
                GgufQuantizer.write(plan, out, (done, t) -> { if (bar != null) bar.stepTo(done / 1_000_000); });
            }
            double secs = (System.nanoTime() - start) / 1e9;
            long quantized = plan.tensors().stream().filter(t -> !t.copied()).count();
            stdout.printf("%s: %s, %d tensors (%d quantized, %d copied), %.2f MiB (%.2f BPW) -> %.2f MiB (%.2f BPW)%s, %.1f s%n", dev.requant.formats.TerminalText.escape(out),
                    type.name(), plan.tensors().size(), quantized, plan.tensors().size() - quantized,
                    plan.inputBytes() / 1048576.0, plan.inputBytes() * 8.0 / plan.elements(),
                    plan.outputBytes() / 1048576.0, plan.outputBytes() * 8.0 / plan.elements(),
                    plan.fallbacks() > 0 ? ", " + plan.fallbacks() + " fallbacks" : "", secs);
        }
        stdout.flush();
        return 0;
    }

    private CommandLine.ParameterException usage(String message) {
        return new CommandLine.ParameterException(spec.commandLine(), message);
    }

    private GgmlType ggmlType(String option, String name) {
        if (name == null) return null;
        return GgmlType.byName(name).orElseThrow(() -> usage(option + ": invalid ggml type '" + name + "'"));
    }

    static void printPlan(QuantizePlan plan, PrintWriter out) {
        QuantizeSettings s = plan.settings();
        out.printf("%s -> %s (general.file_type %d), arch %s, %d layers%s, %d tensors%s%s%n", dev.requant.formats.TerminalText.escape(plan.input().path()), s.fileType().name(),
                s.fileType().id(), dev.requant.formats.TerminalText.escape(plan.model().arch()), plan.model().nLayer(),
                plan.model().nExpert() > 0 ? ", " + plan.model().nExpert() + " experts" : "", plan.tensors().size(),
                s.pure() ? ", --pure" : "", s.hasImatrix() ? ", imatrix " + dev.requant.formats.TerminalText.escape(s.imatrix().fileAsGiven()) + " (" + s.imatrix().importance().size() + " entries)" : "");
        out.println();
        TextTable t = new TextTable("tensor", "shape (ne)", "from", "to", "rule", ">MiB in", ">MiB out", "imatrix");
        for (PlannedQuantTensor p : plan.tensors()) {
            t.row(p.name(), InspectCommand.shape(p.input().ne()), p.input().type().ggmlName(), p.output().type().ggmlName(),
                    p.copied() && p.decision().quantizable() ? p.decision().rule() + " (same type: copied)" : p.decision().rule(),
                    String.format("%.3f", p.input().byteSize() / 1048576.0), String.format("%.3f", p.output().byteSize() / 1048576.0),
                    p.problem() != null ? "ERROR: " + p.problem() : p.imatrixNote());
        }
        t.print(out, "");
        out.println();
        out.printf("model size = %.2f MiB (%.2f BPW)%n", plan.inputBytes() / 1048576.0, plan.inputBytes() * 8.0 / plan.elements());
        out.printf("quant size = %.2f MiB (%.2f BPW)%n", plan.outputBytes() / 1048576.0, plan.outputBytes() * 8.0 / plan.elements());
        java.util.Map<GgmlType, Long> perType = new java.util.TreeMap<>();
        for (PlannedQuantTensor p : plan.tensors()) perType.merge(p.output().type(), 1L, Long::sum);
        StringBuilder sb = new StringBuilder();
        perType.forEach((k, v) -> sb.append(sb.isEmpty() ? "" : ", ").append(k.ggmlName()).append(": ").append(v));
        out.println("tensors per type: " + sb);
        if (plan.fallbacks() > 0) out.printf("%d of %d tensors required fallback quantization%n", plan.fallbacks(), plan.tensors().size());
        for (String p : plan.problems()) out.println("error: " + dev.requant.formats.TerminalText.escape(p));
        if (plan.requiresImatrix()) out.println("warning: this quantization requires an importance matrix (--imatrix)");
    }
}
