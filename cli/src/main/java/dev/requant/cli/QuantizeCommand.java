package dev.requant.cli;

import dev.requant.formats.TerminalText;
import dev.requant.converter.quantize.KvOverride;
import dev.requant.converter.quantize.PlannedQuantTensor;
import dev.requant.formats.gguf.FileType;
import dev.requant.converter.quantize.QuantizePlan;
import dev.requant.converter.quantize.QuantizePlanner;
import dev.requant.converter.quantize.QuantizeSettings;
import dev.requant.converter.quantize.ScaleSearch;
import dev.requant.converter.quantize.TensorTypeOverride;
import dev.requant.formats.ggml.GgmlType;
import dev.requant.formats.imatrix.ImatrixFilter;
import java.io.PrintWriter;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;
import java.util.concurrent.Callable;
import dev.requant.ops.OperationContext;
import dev.requant.ops.OperationException;
import dev.requant.ops.quantize.Quantize;
import picocli.CommandLine;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;

@Command(addMethodSubcommands = false, name = "quantize", mixinStandardHelpOptions = true,
        header = "Quantize a GGUF file as llama-quantize does, bit for bit.",
        description = {
            "Quantize a GGUF file as llama-quantize does, bit for bit: the same per-tensor types (output/token_embd",
            "rules, attn_v/ffn_down promotions, row-size fallbacks), tensor order, metadata and bytes.",
            "Arguments as llama-quantize: IN.gguf [OUT.gguf] TYPE [NTHREADS]; without OUT the output is",
            "<dir of IN>/ggml-model-TYPE.gguf. The output appears only when complete.",
            "TYPE: a name below (any case; Q3_K, Q4_K, Q5_K mean the _M mixes) or the numeric llama_ftype.",
            "Types this build makes, with llama-quantize's own description:",
            "%n${sys:requant.quantize.types}"
        })
final class QuantizeCommand implements Callable<Integer> {
    @Parameters(paramLabel = "ARGS", arity = "1..4", description = "IN.gguf [OUT.gguf] TYPE [NTHREADS] (or IN.gguf -o OUT.gguf TYPE [NTHREADS])")
    List<String> args;

    @Option(names = {"-o", "--output"}, paramLabel = "OUT.gguf", description = "The output file (instead of the positional OUT.gguf).")
    Path outputOption;

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

    @Option(names = "--output-tensor-type", paramLabel = "TYPE", converter = TypeNames.Ggml.class,
            description = "GGML type for output.weight (e.g. q8_0, q6_K, f16).")
    GgmlType outputTensorType;

    @Option(names = "--token-embedding-type", paramLabel = "TYPE", converter = TypeNames.Ggml.class,
            description = "GGML type for token_embd.weight.")
    GgmlType tokenEmbeddingType;

    @Option(names = "--tensor-type", paramLabel = "PATTERN=TYPE", parameterConsumer = TypeRules.class,
            description = "Quantize tensors whose name matches the regex PATTERN (lower-cased, searched anywhere) to TYPE; repeatable, first match wins.")
    List<String> tensorTypes = new ArrayList<>();

    @Option(names = "--tensor-type-file", paramLabel = "FILE", parameterConsumer = TypeRules.class,
            description = "PATTERN=TYPE rules as --tensor-type, read from FILE (separated by spaces or newlines); they take their place among the --tensor-type options.")
    List<String> tensorTypeFiles = new ArrayList<>();

    /** --tensor-type and --tensor-type-file in command-line order (llama-quantize keeps one list: first match wins). */
    final List<String[]> typeRules = new ArrayList<>();

    /** Collects --tensor-type / --tensor-type-file values into {@link #typeRules} in the order they were given. */
    static final class TypeRules implements CommandLine.IParameterConsumer {
        @Override
        public void consumeParameters(java.util.Stack<String> args, CommandLine.Model.ArgSpec argSpec, CommandLine.Model.CommandSpec commandSpec) {
            String option = ((CommandLine.Model.OptionSpec) argSpec).longestName();
            if (args.isEmpty()) throw new CommandLine.ParameterException(commandSpec.commandLine(), "Missing required parameter for option '" + option + "'");
            ((QuantizeCommand) commandSpec.userObject()).typeRules.add(new String[] {option, args.pop()});
        }
    }

    @Option(names = "--override-kv", paramLabel = "KEY=TYPE:VALUE",
            description = "Set metadata KEY in the output (TYPE int, float, bool or str; int is written as UINT32 of its absolute value, as llama-quantize does); "
                    + "the type rules read the model's hyperparameters through it too. Repeatable.")
    List<String> overrideKv = new ArrayList<>();

    @Option(names = "--keep-split", description = "Write one output shard per input shard: OUT-00001-of-0000N.gguf ... (OUT without .gguf), as llama-quantize does.")
    boolean keepSplit;

    @CommandLine.Mixin
    SplitOptions split;

    @Option(names = "--prune-layers", paramLabel = "L1,L2,...",
            description = "Drop these blocks (blk.N.*) and renumber the rest; block_count is updated. Other per-layer metadata is left as it is, as in llama-quantize.")
    String pruneLayers;

    @Option(names = "--allow-requantize", description = "Allow quantized input tensors (dequantized first; this loses quality).")
    boolean allowRequantize;

    @Option(names = {"-t", "--threads"}, paramLabel = "N", description = "Encoder threads (default: all processors; the output does not depend on it).")
    Integer threads;

    @Option(names = "--search", paramLabel = "MODE", defaultValue = "default",
            description = "Block scale search: ${COMPLETION-CANDIDATES}. default is llama.cpp's, bit for bit; exhaustive tries more candidates "
                    + "per block, never a worse importance-weighted error than llama.cpp's choice (see BENCHMARKS.md). Default: ${DEFAULT-VALUE}.")
    ScaleSearch search;

    @Option(names = "--qat", paramLabel = "MODE",
            description = "auto: a Q4_0 tensor whose values sit on a Q4_0 lattice (a QAT checkpoint) is written through lattice recovery, "
                    + "and a mix offers it; off: llama.cpp's encoder only. Default: off for TYPE (llama-quantize's bytes), auto for a mix.")
    String qat;

    @Option(names = "--dry-run", description = "Print the plan (each tensor: shape, from type, to type, the rule that chose it, sizes) and totals; write nothing.")
    boolean dryRun;

    @Option(names = "--no-progress", description = "No progress bar on stderr.")
    boolean noProgress;

    @CommandLine.ArgGroup(exclusive = false, heading = "%nMeasured mix at a target size (IN.gguf OUT.gguf, no TYPE; see docs/quantize.md):%n")
    MixOptions mix;

    /** quantize --target-bpw|--target-size: the options of {@link dev.requant.ops.quantize.QuantizeMix}. */
    static final class MixOptions {
        @Option(names = "--target-bpw", paramLabel = "B", description = "Choose a type per tensor for at most B bits per weight (tensor bytes, as the \"quant size\" line counts).")
        Double targetBpw;

        @Option(names = "--target-size", paramLabel = "SIZE", description = "Choose a type per tensor for a file of at most SIZE bytes (suffix K, M, G, T: powers of 1024), e.g. 6.5G.")
        String targetSize;

        @Option(names = "--text", paramLabel = "FILE", description = "Calibration text: the KLD of each tensor's types is measured on its first chunks.")
        Path text;

        @Option(names = "--allow-types", paramLabel = "T1,T2,...", split = ",", converter = TypeNames.Ggml.class,
                description = "The types a tensor may take (default q3_K,iq3_s,iq4_xs,q4_0,q4_K,q5_K,q6_K,q8_0).")
        List<GgmlType> allowTypes;

        @Option(names = {"-c", "--ctx-size"}, paramLabel = "N", defaultValue = "512", description = "Tokens per calibration chunk (default ${DEFAULT-VALUE}).")
        int nCtx;

        @Option(names = "--chunks", paramLabel = "N", defaultValue = "8", description = "Calibration chunks measured (default ${DEFAULT-VALUE}).")
        int chunks;

        @Option(names = "--sensitivity", paramLabel = "FILE.json",
                description = "The measured table: read when it exists, else measured and written (default OUT.gguf.sensitivity.json).")
        Path sensitivity;

        @Option(names = "--sensitivity-mode", paramLabel = "MODE", defaultValue = "measured",
                description = "measured: every (tensor, type) through the model; proxy: one type per tensor, the others scaled by importance-weighted error (default ${DEFAULT-VALUE}).")
        String sensitivityMode;

        @Option(names = "--write-recipe", paramLabel = "FILE", description = "Write the mix as a --tensor-type-file (one anchored rule per tensor).")
        Path recipe;

        @Option(names = "--device", paramLabel = "DEVICE", defaultValue = "auto",
                description = "Where the measurements run: ${COMPLETION-CANDIDATES} (default ${DEFAULT-VALUE}).")
        dev.requant.cuda.ComputeDevice device;
    }

    @CommandLine.Spec
    CommandLine.Model.CommandSpec spec;

    @Override
    public Integer call() throws OperationException {
        if (mix != null && (mix.targetBpw != null || mix.targetSize != null)) return callMix();
        if (mix != null) throw usage("--text, --allow-types, --sensitivity ... belong to a mix: give --target-bpw or --target-size");
        // arity 1 above lets -o stand between the positionals; two are still needed
        if (args.size() < 2) throw usage("missing TYPE: requant quantize IN.gguf [OUT.gguf] TYPE [NTHREADS]");
        Path in = Path.of(args.get(0));
        Path out;
        FileType type;
        int next;
        Optional<FileType> second = FileType.parse(args.get(1));
        if (outputOption != null) {
            type = second.orElseThrow(() -> usage("invalid TYPE '" + args.get(1) + "' (" + FileType.producibleNames() + ")"));
            out = outputOption;
            next = 2;
        } else if (second.isPresent()) {
            type = second.get();
            out = null; // llama-quantize's default name beside the input
            next = 2;
        } else {
            if (args.size() < 3) throw usage("missing TYPE (" + FileType.producibleNames() + ")");
            out = Path.of(args.get(1));
            type = FileType.parse(args.get(2)).orElseThrow(() -> usage("invalid TYPE '" + args.get(2) + "' (" + FileType.producibleNames() + ")"));
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
                .withAllowRequantize(allowRequantize).withOutputTensorType(outputTensorType).withTokenEmbeddingType(tokenEmbeddingType)
                .withSearch(search);
        List<TensorTypeOverride> overrides = new ArrayList<>();
        for (String[] rule : typeRules) {
            try {
                if (rule[0].equals("--tensor-type")) {
                    overrides.add(TensorTypeOverride.parse(rule[1]));
                } else {
                    overrides.addAll(TensorTypeOverride.readFile(Path.of(rule[1])));
                }
            } catch (IllegalArgumentException e) {
                throw usage(rule[0] + ": " + e.getMessage());
            }
        }
        s = s.withTensorTypes(overrides);
        List<KvOverride> kv = new ArrayList<>();
        for (String o : overrideKv) {
            try {
                kv.add(KvOverride.parse(o));
            } catch (IllegalArgumentException e) {
                throw usage("--override-kv: " + e.getMessage());
            }
        }
        s = s.withKvOverrides(kv).withKeepSplit(keepSplit);
        if (pruneLayers != null) s = s.withPruneLayers(parseLayers(pruneLayers));
        var splitLimit = split.limit(spec.commandLine());
        if (splitLimit != null && keepSplit) throw usage("--keep-split keeps the input's shards; it cannot be used with --split-max-size or --split-max-tensors");
        Quantize.Request request = new Quantize.Request(in, out, s, imatrix, new ImatrixFilter(include, exclude), qatMode(false), splitLimit);
        PrintWriter stdout = spec.commandLine().getOut();
        Quantize quantize = new Quantize();
        Quantize.Planned planned = null;
        if (!dryRun && VectorRelaunch.possible()) {
            // the plan tells whether the work is worth a JVM with the Vector API; made without the command's context
            // (its start-up report and warm-ups belong to the JVM that does the work), and used for the work if it stays
            planned = quantize.plan(request, OperationContext.quiet());
            if (Quantize.vectorApiPays(request, planned.plan())) {
                planned.close();
                return VectorRelaunch.run(spec);
            }
        }
        OperationContext ctx = CliContext.of(spec.commandLine().getErr(), noProgress);
        if (dryRun) {
            try (Quantize.Planned p = quantize.plan(request, ctx)) {
                printPlan(p.plan(), stdout);
                if (splitLimit != null || keepSplit) printShards(p.plan(), request, stdout);
            }
            stdout.flush();
            return 0;
        }
        Quantize.Result r;
        try (Quantize.Planned p = planned) {
            r = p != null ? quantize.run(request, p, ctx) : quantize.run(request, ctx);
        }
        if (r.files() > 1) stdout.printf("%d files: %s ...%n", r.files(), TerminalText.escape(r.output()));
        stdout.printf("%s: %s, %d tensors (%d quantized, %d copied), %.2f MiB (%.2f BPW) -> %.2f MiB (%.2f BPW)%s, %.1f s%n", TerminalText.escape(r.output()),
                r.type().name(), r.tensors(), r.quantized(), r.tensors() - r.quantized(), r.inputBytes() / 1048576.0, r.inputBitsPerWeight(),
                r.outputBytes() / 1048576.0, r.outputBitsPerWeight(), r.fallbacks() > 0 ? ", " + r.fallbacks() + " fallbacks" : "", r.seconds());
        stdout.flush();
        return 0;
    }

    private Integer callMix() throws OperationException {
        if (mix.targetBpw != null && mix.targetSize != null) throw usage("give --target-bpw or --target-size, not both");
        if (pure || !typeRules.isEmpty() || outputTensorType != null || tokenEmbeddingType != null || pruneLayers != null || keepSplit
                || !overrideKv.isEmpty() || leaveOutputTensor || allowRequantize || !include.isEmpty() || !exclude.isEmpty()) {
            throw usage("a mix chooses every tensor's type itself: --pure, --tensor-type, --output-tensor-type, --token-embedding-type, "
                    + "--prune-layers, --keep-split, --override-kv, --leave-output-tensor, --allow-requantize and imatrix filters do not apply");
        }
        Path in = Path.of(args.get(0));
        Path out = outputOption;
        if (args.size() == 2 && out == null) out = Path.of(args.get(1));
        else if (args.size() != 1 || out == null) throw usage("a mix takes IN.gguf OUT.gguf and no TYPE: requant quantize IN.gguf OUT.gguf --target-bpw B");
        if (mix.text == null) throw usage("--text FILE is required with --target-bpw/--target-size: the mix is measured on calibration text");
        dev.requant.converter.quantize.mix.SizeBudget budget;
        try {
            budget = mix.targetBpw != null ? new dev.requant.converter.quantize.mix.SizeBudget.BitsPerWeight(mix.targetBpw)
                    : dev.requant.converter.quantize.mix.SizeBudget.parseSize(mix.targetSize);
        } catch (IllegalArgumentException e) {
            throw usage(e.getMessage());
        }
        var mode = switch (mix.sensitivityMode.toLowerCase(java.util.Locale.ROOT)) {
            case "measured" -> dev.requant.converter.quantize.mix.SensitivityTable.Mode.MEASURED;
            case "proxy" -> dev.requant.converter.quantize.mix.SensitivityTable.Mode.PROXY;
            default -> throw usage("--sensitivity-mode: unknown mode '" + mix.sensitivityMode + "' (choose measured or proxy)");
        };
        boolean qat = qatMode(true);
        int nthreads = threads != null ? threads : Runtime.getRuntime().availableProcessors();
        var request = dev.requant.ops.quantize.QuantizeMix.Request.of(in, out, budget, imatrix, mix.text).withMenu(mix.allowTypes)
                .withCalibration(mix.nCtx, mix.chunks).withSensitivity(mix.sensitivity, mode).withRecipe(mix.recipe).withDryRun(dryRun)
                .withQat(qat).withThreads(nthreads).withDevice(mix.device);
        // a mix measures with the forward pass (its CPU kernels are Vector API code) and writes with the vector encoders
        if (VectorRelaunch.possible()) return VectorRelaunch.run(spec);
        PrintWriter stdout = spec.commandLine().getOut();
        OperationContext ctx = CliContext.of(spec.commandLine().getErr(), noProgress);
        MixReport.print(new dev.requant.ops.quantize.QuantizeMix().run(request, ctx), request, stdout);
        stdout.flush();
        return 0;
    }

    /** --qat auto|off, or the default of the mode when not given. */
    private boolean qatMode(boolean dflt) {
        if (qat == null) return dflt;
        return switch (qat.toLowerCase(java.util.Locale.ROOT)) {
            case "auto", "on" -> true;
            case "off" -> false;
            default -> throw usage("--qat: unknown mode '" + qat + "' (choose auto or off)");
        };
    }

    /** parse_layer_prune: comma-separated block numbers, each a non-negative integer. */
    private List<Integer> parseLayers(String list) {
        List<Integer> layers = new ArrayList<>();
        for (String id : list.split(",", -1)) {
            int n;
            try {
                n = Integer.parseInt(id.trim());
            } catch (NumberFormatException e) {
                n = -1;
            }
            if (n < 0) throw usage("--prune-layers: invalid layer id '" + id + "'");
            layers.add(n);
        }
        return layers;
    }

    private CommandLine.ParameterException usage(String message) {
        return new CommandLine.ParameterException(spec.commandLine(), message);
    }

    /** quantize --help's type list: every type of the table, in llama-quantize's order, with its description. */
    static String typeTable() {
        // built by hand rather than with String.format: every run builds it (picocli reads it from a system property),
        // and 40 format calls cost a cold JVM some 10 ms
        StringBuilder sb = new StringBuilder();
        for (FileType t : FileType.values()) {
            String id = Integer.toString(t.id());
            sb.append("  ").append(" ".repeat(Math.max(0, 2 - id.length()))).append(id).append("  or  ").append(t.name())
                    .append(" ".repeat(Math.max(0, 9 - t.name().length()))).append(" : ").append(t.description())
                    .append(t.needsImatrix() ? " (needs --imatrix)" : "").append(t.producible() ? "" : "  [not in this build]")
                    .append(System.lineSeparator());
        }
        return sb.toString().stripTrailing();
    }

    /** The files a split or --keep-split run would write: each shard's path, tensors and tensor bytes. */
    private static void printShards(QuantizePlan plan, Quantize.Request request, PrintWriter out) throws OperationException {
        List<QuantizePlan.OutputShard> shards = Quantize.outputShards(plan, request);
        out.println();
        TextTable t = new TextTable("shard", ">tensors", ">MiB of tensors");
        for (QuantizePlan.OutputShard sh : shards) {
            long bytes = 0;
            for (PlannedQuantTensor q : sh.tensors()) bytes += q.output().byteSize();
            t.row(sh.path().toString(), Integer.toString(sh.tensors().size()), String.format(java.util.Locale.ROOT, "%.2f", bytes / 1048576.0));
        }
        t.print(out, "");
        out.printf("%d files (%s)%n", shards.size(), request.split() != null ? request.split() : "the input's shards, --keep-split");
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
