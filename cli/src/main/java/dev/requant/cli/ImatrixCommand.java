package dev.requant.cli;

import dev.requant.converter.ModelSources;
import dev.requant.cuda.ComputeDevice;
import dev.requant.cuda.CudaUnavailableException;
import dev.requant.formats.imatrix.Imatrix;
import dev.requant.formats.imatrix.ImatrixAccumulator;
import dev.requant.formats.imatrix.ImatrixFormat;
import dev.requant.formats.imatrix.ImatrixReader;
import dev.requant.formats.imatrix.ImatrixWriter;
import dev.requant.formats.io.InputFiles;
import dev.requant.formats.model.ModelSource;
import dev.requant.formats.tokenizer.LlamaVocab;
import dev.requant.formats.tokenizer.Tokenizer;
import dev.requant.runtime.cuda.CudaImatrixBackend;
import dev.requant.runtime.imatrix.ChunkPlan;
import dev.requant.runtime.imatrix.ImatrixBackend;
import dev.requant.runtime.imatrix.ImatrixBackends;
import dev.requant.runtime.imatrix.ImatrixCollector;
import dev.requant.runtime.imatrix.ImatrixSettings;
import java.io.IOException;
import java.io.PrintWriter;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.concurrent.Callable;
import me.tongfei.progressbar.ProgressBar;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;
import picocli.CommandLine;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;

/**
 * {@code requant imatrix}: importance matrices. {@code requant imatrix MODEL --text FILE ...} collects one the way
 * llama-imatrix does (llamacpp-formats.md §5: chunks with BOS first, n_seq chunks per batch, only MUL_MAT inputs of
 * {@code blk.*} weights with at least 16 rows, float32 sums, periodic saves); the subcommands work on llama.cpp's GGUF
 * and legacy .dat files (picocli dispatches to a subcommand only when the first argument is one of their names, so a
 * model path and the subcommands share the command). The logic lives in the runtime module
 * ({@link ImatrixCollector}, {@link ChunkPlan}, the backends); this class parses options and reports.
 */
@Command(name = "imatrix", mixinStandardHelpOptions = true,
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
    private static final Logger LOG = LoggerFactory.getLogger(ImatrixCommand.class);

    @Parameters(index = "0", arity = "0..1", paramLabel = "MODEL", description = "A .gguf file or a Hugging Face folder.")
    Path model;

    @Option(names = {"--text", "-f"}, paramLabel = "FILE", description = "UTF-8 calibration text (llama-imatrix -f).")
    Path text;

    @Option(names = {"-o", "--output"}, paramLabel = "OUT", defaultValue = "imatrix.gguf",
            description = "Output file (default ${DEFAULT-VALUE}).")
    Path output;

    @Option(names = {"--format", "--output-format"}, paramLabel = "gguf|dat",
            description = "Output format (default: dat when OUT ends in .dat, else gguf).")
    String format;

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

    @Option(names = "--device", paramLabel = "cpu|cuda|auto", defaultValue = "auto",
            description = "Where to run: cuda (an NVIDIA GPU), cpu, or auto: the GPU when one is usable (default ${DEFAULT-VALUE}).")
    String device;

    @Option(names = "--gpu-bf16-inputs",
            description = "GPU: round activations to bf16 once for the weight GEMMs, as llama.cpp's CUDA backend does"
                    + " (about 1.7x faster; the sums then differ from the CPU's by ~2e-3 instead of ~3e-4).")
    boolean gpuBf16Inputs;

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

    @Option(names = "--threads", paramLabel = "N", description = "CPU threads (default: all cores).")
    Integer threads;

    @Option(names = "--no-progress", description = "No progress bar on stderr.")
    boolean noProgress;

    @CommandLine.Spec
    CommandLine.Model.CommandSpec spec;

    @Override
    public Integer call() throws IOException {
        if (model == null) {
            if (text != null) throw new UserError("MODEL is missing: requant imatrix MODEL --text FILE -o OUT");
            spec.commandLine().usage(spec.commandLine().getOut());
            return 0;
        }
        if (text == null) throw new UserError("--text FILE is required to collect an imatrix");
        ImatrixSettings settings;
        try {
            settings = new ImatrixSettings(nCtx, nBatch, nUbatch, chunks, skip, processOutput, outputFrequency, saveFrequency);
        } catch (IllegalArgumentException e) {
            throw new UserError(e.getMessage());
        }
        ImatrixFormat outFormat = outputFormat();
        int nThreads = threads != null ? threads : Runtime.getRuntime().availableProcessors();
        if (nThreads < 1) throw new UserError("--threads must be at least 1");
        if (!Files.exists(model)) throw new NoSuchFileException(model.toString(), null, "no such file or folder");
        InputFiles.requireRegular(text, "text file");
        String dataset = text.toString(); // llama-imatrix records its -f argument as given

        ImatrixAccumulator acc = new ImatrixAccumulator(nCtx);
        int startChunk = 0;
        if (resume != null) startChunk = loadResume(acc, dataset);

        try (ModelSource src = ModelSources.open(model)) {
            Tokenizer tokenizer = Tokenizer.fromMetadata(src.metadata());
            LlamaVocab vocab = tokenizer.vocab();
            int bos = vocab.addBos() ? vocab.bos() : -1;
            long tt = System.nanoTime();
            int[] tokens = tokenizer.encode(InputFiles.readText(text, "text file"), true, parseSpecial);
            LOG.info("{}: {} tokens (tokenized in {} ms)", text, tokens.length, (System.nanoTime() - tt) / 1_000_000);
            ChunkPlan plan;
            try {
                plan = ChunkPlan.of(tokens.length, settings);
            } catch (IllegalArgumentException e) {
                throw new UserError(text + ": " + e.getMessage());
            }
            if (startChunk > plan.chunks()) {
                throw new UserError(resume + " holds " + startChunk + " chunks; " + text + " gives only " + plan.chunks()
                        + " with these settings");
            }
            try (ImatrixBackend backend = openBackend(src, acc, settings, nThreads)) {
                LOG.info("collecting {} chunks of {} tokens ({} per batch) on {}{}", plan.chunks() - startChunk, nCtx,
                        plan.nSeq(), backend.description(), startChunk > 0 ? ", resuming after chunk " + startChunk : "");
                ImatrixCollector.Result r;
                long total = (long) (plan.chunks() - startChunk) * nCtx;
                try (ProgressBar bar = progressBar(total)) {
                    r = ImatrixCollector.run(tokens, bos, plan, backend, startChunk, dataset,
                            (im, at) -> save(im, at, outFormat),
                            (done, all, n, sec) -> {
                                if (bar != null) {
                                    bar.stepBy(n);
                                    bar.setExtraMessage("chunk " + done + "/" + all);
                                }
                            });
                }
                PrintWriter out = spec.commandLine().getOut();
                Imatrix im = r.imatrix();
                out.printf(Locale.ROOT, "%s: %s imatrix, %d entries, %d chunks of %d tokens, datasets %s%n", dev.requant.formats.TerminalText.escape(output),
                        outFormat.name().toLowerCase(Locale.ROOT), im.entries().size(), im.chunkCount(), im.chunkSize(),
                        dev.requant.formats.TerminalText.escape(im.datasets()));
                out.printf(Locale.ROOT, "collected %d tokens in %.2f s: %.1f tokens/s on %s%n", r.tokensRun(), r.seconds(),
                        r.tokensPerSecond(), backend.description());
                out.flush();
            }
        }
        return 0;
    }

    private ImatrixBackend openBackend(ModelSource src, ImatrixAccumulator acc, ImatrixSettings settings, int nThreads)
            throws IOException {
        ComputeDevice dev;
        try {
            dev = ComputeDevice.parse(device);
        } catch (IllegalArgumentException e) {
            throw new UserError(e.getMessage());
        }
        try {
            return ImatrixBackends.open(dev, src, acc, settings, nThreads,
                    gpuBf16Inputs ? CudaImatrixBackend.GemmInputs.BF16 : CudaImatrixBackend.GemmInputs.SPLIT_BF16, LOG::info);
        } catch (CudaUnavailableException e) {
            throw new UserError("--device cuda: " + e.getMessage());
        }
    }

    private ImatrixFormat outputFormat() {
        if (format == null) return ImatrixFormat.forFileName(output);
        return switch (format.toLowerCase(Locale.ROOT)) {
            case "gguf" -> ImatrixFormat.GGUF;
            case "dat" -> ImatrixFormat.DAT;
            default -> throw new UserError("unknown --format '" + format + "' (use gguf or dat)");
        };
    }

    /** Loads a saved imatrix to continue: its sums, counts and earlier datasets; returns the chunks it holds. */
    private int loadResume(ImatrixAccumulator acc, String dataset) throws IOException {
        Imatrix im = ImatrixReader.read(resume);
        if (im.legacy()) {
            throw new UserError(resume + ": --resume needs a GGUF imatrix (a .dat file keeps neither raw sums nor the chunk size)");
        }
        if (im.chunkSize() != nCtx) {
            throw new UserError(resume + ": chunk size " + im.chunkSize() + " differs from -c " + nCtx);
        }
        List<String> ds = new ArrayList<>(im.datasets());
        // the interrupted run recorded this text as its last dataset; the continued run appends it again
        if (!ds.isEmpty() && ds.getLast().equals(dataset)) ds.removeLast();
        try {
            acc.load(new Imatrix(im.entries(), ds, im.chunkCount(), im.chunkSize(), im.format(), false, im.hasMetadata()));
        } catch (IllegalArgumentException e) {
            throw new UserError(resume + ": " + e.getMessage());
        }
        LOG.info("{}: resuming with {} chunks already collected", resume, im.chunkCount());
        return im.chunkCount();
    }

    private void save(Imatrix im, int atChunk, ImatrixFormat fmt) throws IOException {
        Path target = atChunk == 0 ? output : output.resolveSibling(output.getFileName() + ".at_" + atChunk);
        try {
            ImatrixWriter.write(target, im, fmt);
        } catch (IllegalArgumentException e) {
            throw new UserError(target + ": " + e.getMessage());
        }
        LOG.debug("{}: saved after {} chunks", target, im.chunkCount());
    }

    private ProgressBar progressBar(long total) {
        return ProgressBars.start("imatrix", total, " tok", 1, noProgress);
    }
}
