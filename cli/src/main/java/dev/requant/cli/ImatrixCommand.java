package dev.requant.cli;

import dev.requant.formats.TerminalText;
import dev.requant.cuda.ComputeDevice;
import dev.requant.formats.imatrix.Imatrix;
import dev.requant.formats.imatrix.ImatrixFormat;
import dev.requant.ops.OperationException;
import dev.requant.ops.imatrix.CollectImatrix;
import dev.requant.runtime.GemmInputs;
import dev.requant.runtime.GpuWeights;
import dev.requant.runtime.imatrix.ImatrixSettings;

import java.io.PrintWriter;
import java.nio.file.Path;
import java.util.Locale;
import java.util.concurrent.Callable;
import picocli.CommandLine;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;

/**
 * {@code requant imatrix}: importance matrices. {@code requant imatrix MODEL --text FILE ...} collects one the way
 * llama-imatrix does (llamacpp-formats.md §5: chunks with BOS first, n_seq chunks per batch, only MUL_MAT inputs of
 * {@code blk.*} weights with at least 16 rows, float32 sums, periodic saves); the subcommands work on llama.cpp's GGUF
 * and legacy .dat files (picocli dispatches to a subcommand only when the first argument is one of their names, so a
 * model path and the subcommands share the command). The logic lives in {@link CollectImatrix}; this class parses
 * options and reports.
 */
@Command(addMethodSubcommands = false, name = "imatrix", mixinStandardHelpOptions = true,
        header = "Collect, merge, convert and summarize importance matrices in llama.cpp's formats.",
        description = {
            "Importance matrices in llama.cpp's formats (GGUF imatrix and legacy .dat).",
            "requant imatrix MODEL --text FILE -o OUT collects one as llama-imatrix does (same chunking, same tensors,",
            "same counts and file), on the CPU or an NVIDIA GPU; merge, convert and stats read either format.",
            "Outputs are written atomically; --save-frequency and --resume let a long run continue after a crash."
        },
        subcommands = {
            ImatrixMergeCommand.class,
            ImatrixConvertCommand.class,
            ImatrixStatsCommand.class
        })
final class ImatrixCommand implements Callable<Integer> {
    @Parameters(index = "0", arity = "0..1", paramLabel = "MODEL", description = "A .gguf file or a Hugging Face folder.")
    Path model;

    @Option(names = {"-m", "--model"}, paramLabel = "MODEL", description = "The model, as llama-imatrix -m (instead of MODEL).")
    Path modelOption;

    @Option(names = "--in-file", paramLabel = "FILE",
            description = "As llama-imatrix --in-file (repeatable): without --text, combine these imatrix files into -o (as imatrix merge);"
                    + " with --show-statistics, print their statistics (as imatrix stats).")
    java.util.List<Path> inFiles = new java.util.ArrayList<>();

    @Option(names = "--show-statistics", description = "As llama-imatrix --show-statistics: statistics of the --in-file imatrix files.")
    boolean showStatistics;

    @Option(names = {"--text", "-f"}, paramLabel = "FILE", description = "UTF-8 calibration text (llama-imatrix -f).")
    Path text;

    @Option(names = {"-o", "--output"}, paramLabel = "OUT", defaultValue = "imatrix.gguf",
            description = "Output file (default ${DEFAULT-VALUE}).")
    Path output;

    @Option(names = {"--format", "--output-format"}, paramLabel = "FORMAT",
            description = "Output format: ${COMPLETION-CANDIDATES} (default: dat when OUT ends in .dat, else gguf).")
    ImatrixFormat format;

    @Option(names = {"-c", "--ctx-size"}, paramLabel = "N", defaultValue = "512", description = "Tokens per chunk (default ${DEFAULT-VALUE}).")
    int nCtx;

    @Option(names = {"-b", "--batch-size"}, paramLabel = "N", defaultValue = "2048",
            description = "Logical batch: b/c chunks run together (default ${DEFAULT-VALUE}).")
    int nBatch;

    @Option(names = {"-ub", "--ubatch-size"}, paramLabel = "N", defaultValue = "512",
            description = "Physical batch; pieces of fewer than 16 rows are not collected, as in llama.cpp (default ${DEFAULT-VALUE}).")
    int nUbatch;

    @Option(names = "--chunks", paramLabel = "N", defaultValue = "-1", description = "Process at most N chunks (default: all).")
    int chunks;

    @Option(names = {"--chunk", "--from-chunk"}, paramLabel = "SKIP", defaultValue = "0", description = "Skip the first SKIP chunks of the text.")
    int skip;

    @Option(names = "--device", paramLabel = "DEVICE", defaultValue = "auto",
            description = "Where to run: ${COMPLETION-CANDIDATES}; cuda is an NVIDIA GPU, auto the GPU when one is usable (default ${DEFAULT-VALUE}).")
    ComputeDevice device;

    @Option(names = "--gpu-weights", paramLabel = "WHERE", defaultValue = "auto",
            description = "GPU: where the weights live: resident (all on the GPU), stream (layers in pinned host memory,"
                    + " the next layer uploading while this one computes; same results), auto (resident when they fit,"
                    + " else the layers that do not fit stream) (default ${DEFAULT-VALUE}).")
    GpuWeights gpuWeights;

    @Option(names = "--gpu-inputs", paramLabel = "KIND", defaultValue = "bf16",
            description = "GPU: how activations enter the bf16 weight GEMMs: bf16 (rounded once, as llama.cpp's CUDA and"
                    + " CPU backends do for bf16 weights; sums within ~2e-3 of the CPU pass) or split_bf16 (hi + lo"
                    + " halves, within ~3e-4, about 1.7x slower) (default ${DEFAULT-VALUE}).")
    GemmInputs gpuInputs;

    @Option(names = "--process-output", description = "Also collect output.weight (a tied LM head is not collected, as in llama.cpp).")
    boolean processOutput;

    @Option(names = "--parse-special", description = "Parse special tokens in the text.")
    boolean parseSpecial;

    @Option(names = {"--output-frequency", "-ofreq"}, paramLabel = "N", defaultValue = "10",
            description = "Rewrite OUT every N chunks (default ${DEFAULT-VALUE}).")
    int outputFrequency;

    @Option(names = "--save-frequency", paramLabel = "N", defaultValue = "0",
            description = "Also write OUT.at_<chunk> every N chunks (default 0: never).")
    int saveFrequency;

    @Option(names = "--resume", paramLabel = "FILE",
            description = "Continue an interrupted run from its saved imatrix (OUT or OUT.at_<chunk>): skip the chunks it holds, keep its sums, counts and datasets.")
    Path resume;

    @Option(names = {"-t", "--threads"}, paramLabel = "N", description = "CPU threads (default: all cores).")
    Integer threads;

    @Option(names = "--no-progress", description = "No progress bar on stderr.")
    boolean noProgress;

    @CommandLine.Spec
    CommandLine.Model.CommandSpec spec;

    @Override
    public Integer call() throws OperationException, java.io.IOException {
        if (modelOption != null) {
            if (model != null) throw new CommandLine.ParameterException(spec.commandLine(), "give the model once: MODEL or -m MODEL");
            model = modelOption;
        }
        if (!inFiles.isEmpty() && text == null) return fromFiles();
        if (showStatistics) throw new CommandLine.ParameterException(spec.commandLine(), "--show-statistics needs --in-file FILE");
        if (model == null) {
            if (text != null) throw new CommandLine.ParameterException(spec.commandLine(), "MODEL is missing: requant imatrix MODEL --text FILE -o OUT");
            spec.commandLine().usage(spec.commandLine().getOut());
            return 0;
        }
        if (text == null) throw new CommandLine.ParameterException(spec.commandLine(), "--text FILE is required to collect an imatrix");
        ImatrixSettings settings;
        try {
            settings = new ImatrixSettings(nCtx, nBatch, nUbatch, chunks, skip, processOutput, outputFrequency, saveFrequency);
        } catch (IllegalArgumentException e) {
            throw new CommandLine.ParameterException(spec.commandLine(), e.getMessage());
        }
        CollectImatrix.Request request = new CollectImatrix.Request(model, text, output, format, settings, device,
                gpuInputs, parseSpecial, resume,
                threads != null ? threads : Runtime.getRuntime().availableProcessors(), gpuWeights);
        CollectImatrix.Result r = new CollectImatrix().run(request, CliContext.of(spec.commandLine().getErr(), noProgress));
        PrintWriter out = spec.commandLine().getOut();
        Imatrix im = r.imatrix();
        out.printf(Locale.ROOT, "%s: %s imatrix, %d entries, %d chunks of %d tokens, datasets %s%n", TerminalText.escapeEach(r.output(),
                r.format().name().toLowerCase(Locale.ROOT), im.entries().size(), im.chunkCount(), im.chunkSize(), im.datasets()));
        out.printf(Locale.ROOT, "collected %d tokens in %.2f s: %.1f tokens/s on %s%n", r.tokensRun(), r.seconds(),
                r.tokensPerSecond(), TerminalText.escape(r.backend()));
        if (r.peakDeviceBytes() > 0) out.printf(Locale.ROOT, "peak GPU memory: %.2f GiB%n", r.peakDeviceBytes() / (double) (1L << 30));
        out.flush();
        return 0;
    }

    /** llama-imatrix's file modes: --in-file A --in-file B -o OUT (merge) and --in-file F --show-statistics. */
    private int fromFiles() throws OperationException, java.io.IOException {
        PrintWriter out = spec.commandLine().getOut();
        var ctx = CliContext.of(spec.commandLine().getErr(), true);
        if (showStatistics) {
            for (Path f : inFiles) ImatrixStatsCommand.print(f, new dev.requant.ops.imatrix.ImatrixStats().run(
                    new dev.requant.ops.imatrix.ImatrixStats.Request(f, 3), ctx), false, out);
            return 0;
        }
        var r = new dev.requant.ops.imatrix.CombineImatrix().run(new dev.requant.ops.imatrix.CombineImatrix.Request(inFiles, output, format,
                spec.commandLine().getParseResult().hasMatchedOption("-c") ? nCtx : null), ctx);
        out.printf(Locale.ROOT, "%s: %s imatrix, %d entries, %d chunks of %d tokens, datasets %s%n", TerminalText.escapeEach(r.output(),
                r.format().name().toLowerCase(Locale.ROOT), r.imatrix().entries().size(), r.imatrix().chunkCount(),
                r.imatrix().chunkSize(), r.imatrix().datasets()));
        out.flush();
        return 0;
    }
}
