package dev.requant.cli;

import com.fasterxml.jackson.databind.ObjectMapper;
import dev.requant.converter.ModelSources;
import dev.requant.formats.io.AtomicFile;
import dev.requant.formats.io.InputFiles;
import dev.requant.formats.model.ModelSource;
import dev.requant.formats.tokenizer.LlamaVocab;
import dev.requant.formats.tokenizer.Tokenizer;
import dev.requant.runtime.cpu.CpuModel;
import dev.requant.runtime.cpu.CpuThreads;
import dev.requant.runtime.eval.EvalResult;
import dev.requant.runtime.eval.Evaluator;
import dev.requant.runtime.eval.LogitsFile;
import dev.requant.runtime.model.GemmaConfig;
import dev.requant.runtime.model.GemmaWeights;
import java.io.IOException;
import java.io.PrintWriter;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.Callable;
import me.tongfei.progressbar.ProgressBar;
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

        List<AutoCloseable> open = new ArrayList<>();
        try (CpuThreads pool = new CpuThreads(nThreads)) {
            List<Evaluator.Model> compares = new ArrayList<>();
            List<ModelSource> compareSources = new ArrayList<>();
            for (Path q : compare) {
                ModelSource src = ModelSources.open(q);
                open.add(src);
                compareSources.add(src);
                compares.add(new Evaluator.Model(displayName(q), load(src, pool)));
            }
            Evaluator.Reference ref;
            ModelSource tokenizerSource;
            LogitsFile.Writer writer = null;
            int[] tokens = null;
            if (baseIsFile) {
                LogitsFile lf = LogitsFile.open(base);
                open.add(lf);
                ref = new Evaluator.FileReference(displayName(base), lf);
                tokenizerSource = compareSources.get(0);
                if (text != null) System.err.println("eval: --text is ignored: the tokens come from " + base);
            } else {
                ModelSource src = ModelSources.open(base);
                open.add(src);
                tokenizerSource = src;
                tokens = tokenize(src);
                int nChunk = Evaluator.chunkCount(tokens.length, nCtx, chunks);
                if (saveBase != null && nChunk > 0 && tokens.length >= 2 * nCtx) {
                    writer = new LogitsFile.Writer(saveBase, nCtx, GemmaConfig.of(src).nVocab(), nChunk, tokens);
                    open.add(writer);
                }
                ref = new Evaluator.ModelReference(new Evaluator.Model(displayName(base), load(src, pool)), writer);
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
            if (!jsonToStdout) EvalReport.print(result, nThreads, out); // with --json -, stdout is JSON only
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
        InputFiles.requireRegular(text, "text file");
        String s = InputFiles.readText(text, "text file");
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

    private static CpuModel load(ModelSource src, CpuThreads pool) throws IOException {
        GemmaConfig c = GemmaConfig.of(src);
        return new CpuModel(c, GemmaWeights.load(src, c), pool, false, true);
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
