package dev.requant.cli;

import com.fasterxml.jackson.databind.ObjectMapper;
import dev.requant.converter.ModelSources;
import dev.requant.cuda.ComputeDevice;
import dev.requant.cuda.CudaUnavailableException;
import dev.requant.formats.io.AtomicFile;
import dev.requant.formats.model.ModelSource;
import dev.requant.formats.tokenizer.LlamaVocab;
import dev.requant.formats.tokenizer.Tokenizer;
import dev.requant.runtime.ForwardSession;
import dev.requant.runtime.SessionSpec;
import dev.requant.runtime.cpu.CpuThreads;
import dev.requant.runtime.device.Sessions;
import dev.requant.runtime.eval.EvalResult;
import dev.requant.runtime.eval.Evaluator;
import dev.requant.runtime.eval.LogitsFile;
import dev.requant.runtime.model.GemmaConfig;
import dev.requant.runtime.model.GemmaWeights;
import java.io.IOException;
import java.io.PrintWriter;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.Callable;
import java.util.Locale;
import me.tongfei.progressbar.ProgressBar;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;
import picocli.CommandLine;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

@Command(name = "eval", mixinStandardHelpOptions = true,
        description = {
            "Perplexity and KL-divergence of models against a reference, with llama-perplexity's definitions.",
            "The text is tokenized (BOS added, special tokens not parsed) and cut into chunks of -c tokens; each chunk",
            "starts from an empty cache with its first token replaced by BOS, and only its second half is scored.",
            "Reports PPL, ln(PPL(Q)/PPL(base)), mean KLD with percentiles, same-top-token % and RMS Δp per model.",
            "REF and Q may be GGUF files or Hugging Face folders; REF may also be a logits file written by --save-base",
            "or by llama-perplexity --kl-divergence-base (then KLD uses its 16-bit log-probs, as llama.cpp does)."
        })
final class EvalCommand implements Callable<Integer> {
    private static final Logger LOG = LoggerFactory.getLogger(EvalCommand.class);
    /** Tokens per GPU batch (llama-perplexity's default -b 2048: n_batch / n_ctx chunks at once). */
    private static final int GPU_BATCH_TOKENS = 2048;

    @Option(names = "--base", required = true, paramLabel = "REF",
            description = "Reference: a .gguf file, a Hugging Face folder, or a logits file (--save-base / --kl-divergence-base).")
    Path base;

    @Option(names = "--compare", required = true, arity = "1..*", paramLabel = "Q",
            description = "Models to compare with the reference (.gguf files or Hugging Face folders).")
    List<Path> compare;

    @Option(names = {"-f", "--text"}, paramLabel = "FILE", description = "UTF-8 text to evaluate on (not needed with a logits-file reference).")
    Path text;

    @Option(names = {"-c", "--ctx-size"}, paramLabel = "N", defaultValue = "512", description = "Tokens per chunk (default ${DEFAULT-VALUE}).")
    int nCtx;

    @Option(names = "--chunks", paramLabel = "N", defaultValue = "-1", description = "Evaluate at most N chunks (default: all).")
    int chunks;

    @Option(names = "--threads", paramLabel = "N", description = "CPU threads (default: all cores).")
    Integer threads;

    @Option(names = "--json", paramLabel = "OUT", description = "Also write every statistic as JSON to OUT ('-': JSON alone on stdout, no table).")
    Path json;

    @Option(names = "--plot", paramLabel = "OUT.png", description = "Also draw the KLD distribution and same-top-token chart to a PNG.")
    Path plot;

    @Option(names = "--save-base", paramLabel = "FILE",
            description = "Write the reference's log-probs in llama.cpp's --kl-divergence-base format, for later --base FILE runs.")
    Path saveBase;

    @Option(names = "--device", paramLabel = "cpu|cuda|auto", defaultValue = "auto",
            description = "Where to run the models: cuda (an NVIDIA GPU), cpu, or auto: the GPU when one is usable (default ${DEFAULT-VALUE}).")
    String device;

    @Option(names = "--no-progress", description = "No progress bar on stderr.")
    boolean noProgress;

    @CommandLine.Spec
    CommandLine.Model.CommandSpec spec;

    @Override
    public Integer call() throws IOException {
        if (nCtx < 4) throw new UserError("-c must be at least 4, got " + nCtx);
        if (chunks == 0 || chunks < -1) throw new UserError("--chunks must be positive, got " + chunks);
        if (!Files.exists(base)) throw new NoSuchFileException(base.toString(), null, "no such file or folder");
        boolean baseIsFile = LogitsFile.looksLikeLogitsFile(base);
        if (baseIsFile && saveBase != null) throw new UserError("--save-base needs a model as --base, not a logits file");
        if (!baseIsFile && text == null) throw new UserError("--text FILE is required when --base is a model");
        int nThreads = threads != null ? threads : Runtime.getRuntime().availableProcessors();
        if (nThreads < 1) throw new UserError("--threads must be at least 1");

        ComputeDevice dev;
        try {
            dev = ComputeDevice.parse(device);
        } catch (IllegalArgumentException e) {
            throw new UserError(e.getMessage());
        }

        List<AutoCloseable> open = new ArrayList<>();
        try (CpuThreads pool = new CpuThreads(nThreads)) {
            List<ModelSource> compareSources = new ArrayList<>();
            for (Path q : compare) {
                ModelSource src = ModelSources.open(q);
                open.add(src);
                compareSources.add(src);
            }
            Evaluator.Reference ref;
            ModelSource tokenizerSource;
            LogitsFile.Writer writer = null;
            int[] tokens = null;
            ModelSource baseSource = null;
            LogitsFile baseFile = null;
            if (baseIsFile) {
                baseFile = LogitsFile.open(base);
                open.add(baseFile);
                tokenizerSource = compareSources.get(0);
                if (text != null) System.err.println("eval: --text is ignored: the tokens come from " + base);
            } else {
                baseSource = ModelSources.open(base);
                open.add(baseSource);
                tokenizerSource = baseSource;
                tokens = tokenize(baseSource);
            }
            int ctx = baseIsFile ? baseFile.nCtx() : nCtx;
            List<ForwardSession> sessions = new ArrayList<>();
            List<Evaluator.Model> compares = new ArrayList<>();
            for (int i = 0; i < compare.size(); i++) {
                ForwardSession s = session(compareSources.get(i), dev, ctx, pool);
                open.add(s);
                sessions.add(s);
                compares.add(new Evaluator.Model(displayName(compare.get(i)), s));
            }
            if (baseIsFile) {
                ref = new Evaluator.FileReference(displayName(base), baseFile);
            } else {
                int nChunk = Evaluator.chunkCount(tokens.length, nCtx, chunks);
                if (saveBase != null && nChunk > 0 && tokens.length >= 2 * nCtx) {
                    writer = new LogitsFile.Writer(saveBase, nCtx, GemmaConfig.of(baseSource).nVocab(), nChunk, tokens);
                    open.add(writer);
                }
                ForwardSession s = session(baseSource, dev, ctx, pool);
                open.add(s);
                sessions.add(s);
                ref = new Evaluator.ModelReference(new Evaluator.Model(displayName(base), s), writer);
            }
            LlamaVocab vocab = Tokenizer.fromMetadata(tokenizerSource.metadata()).vocab();
            int bos = vocab.addBos() ? vocab.bos() : -1;

            EvalResult result;
            int runs = compares.size() + (baseIsFile ? 0 : 1);
            long total = totalTokens(ref, tokens, runs);
            try (ProgressBar bar = progressBar(total)) {
                result = Evaluator.run(ref, compares, tokens, new Evaluator.Settings(nCtx, chunks, bos), (m, c, n) -> {
                    if (bar != null) {
                        bar.stepBy(n);
                        bar.setExtraMessage(m + " chunk " + (c + 1));
                    }
                });
            } catch (IllegalArgumentException e) {
                throw new UserError(e.getMessage(), e);
            }
            if (writer != null) writer.commit();

            PrintWriter out = spec.commandLine().getOut();
            boolean jsonToStdout = json != null && json.toString().equals("-");
            if (!jsonToStdout) EvalReport.print(result, backend(sessions, nThreads), out); // with --json -, stdout is JSON only
            long peak = sessions.stream().mapToLong(ForwardSession::peakDeviceBytes).max().orElse(0);
            if (peak > 0) System.err.printf(Locale.ROOT, "eval: peak GPU memory %.2f GiB%n", peak / (double) (1L << 30));
            out.flush();
            if (json != null) writeJson(result);
            if (plot != null) EvalPlot.write(result, plot);
            return 0;
        } finally {
            for (int i = open.size() - 1; i >= 0; i--) {
                try {
                    open.get(i).close();
                } catch (Exception e) {
                    // closing read-only sources and an uncommitted writer (which deletes its temporary file)
                }
            }
        }
    }

    private int[] tokenize(ModelSource src) throws IOException {
        if (!Files.isRegularFile(text)) throw new NoSuchFileException(text.toString(), null, "no such text file");
        String s = Files.readString(text, StandardCharsets.UTF_8);
        int[] t = Tokenizer.fromMetadata(src.metadata()).encode(s, true, false);
        if (t.length < 2 * nCtx) {
            throw new UserError(text + " tokenizes to " + t.length + " tokens; -c " + nCtx + " needs at least " + 2 * nCtx
                    + " (as llama-perplexity requires)");
        }
        return t;
    }

    private long totalTokens(Evaluator.Reference ref, int[] tokens, int runs) {
        int n;
        int ctx;
        if (ref instanceof Evaluator.FileReference f) {
            ctx = f.file().nCtx();
            n = Evaluator.chunkCount(ctx * f.file().nChunk(), ctx, chunks);
        } else {
            ctx = nCtx;
            n = Evaluator.chunkCount(tokens.length, nCtx, chunks);
        }
        return (long) n * ctx * runs;
    }

    private ProgressBar progressBar(long total) {
        return ProgressBars.start("eval", total, " tok", 1, noProgress);
    }

    /** A session of -c tokens per sequence scoring the second half of each, on the device asked for. */
    private ForwardSession session(ModelSource src, ComputeDevice dev, int ctx, CpuThreads pool) throws IOException {
        GemmaConfig c = GemmaConfig.of(src);
        SessionSpec spec = SessionSpec.eval(ctx, Math.max(1, GPU_BATCH_TOKENS / ctx), LogitsFile.scoredPerChunk(ctx), null);
        try {
            return Sessions.open(dev, c, GemmaWeights.load(src, c), spec, pool, LOG::info);
        } catch (CudaUnavailableException e) {
            throw new UserError("--device cuda: " + e.getMessage());
        }
    }

    /** The table's footnote: the CPU's thread count as before, or the GPU session's description. */
    private static String backend(List<ForwardSession> sessions, int threads) {
        String d = sessions.isEmpty() ? "cpu" : sessions.getFirst().description();
        if (d.startsWith("cpu")) return "CPU backend, " + threads + " threads";
        long peak = sessions.stream().mapToLong(ForwardSession::peakDeviceBytes).max().orElse(0);
        return String.format(Locale.ROOT, "GPU backend: %s, peak GPU memory %.2f GiB", d, peak / (double) (1L << 30));
    }

    private void writeJson(EvalResult r) throws IOException {
        ObjectMapper m = PrettyJson.mapper();
        Object tree = EvalReport.toJson(r);
        if (json.toString().equals("-")) {
            PrintWriter out = spec.commandLine().getOut();
            out.println(m.writeValueAsString(tree));
            out.flush();
            return;
        }
        java.nio.ByteBuffer bytes = java.nio.ByteBuffer.wrap(m.writeValueAsBytes(tree));
        try (AtomicFile f = AtomicFile.create(json)) {
            while (bytes.hasRemaining()) f.channel().write(bytes);
            f.commit();
        }
    }

    static String displayName(Path p) {
        Path n = p.getFileName();
        return n == null ? p.toString() : n.toString();
    }
}
