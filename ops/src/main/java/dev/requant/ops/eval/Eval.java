package dev.requant.ops.eval;

import dev.requant.ops.Opened;
import dev.requant.converter.ModelSources;
import dev.requant.formats.model.ModelSource;
import dev.requant.formats.tokenizer.LlamaVocab;
import dev.requant.formats.tokenizer.Tokenizer;
import dev.requant.ops.BadInputException;
import dev.requant.ops.Operation;
import dev.requant.ops.OperationContext;
import dev.requant.ops.OperationException;
import dev.requant.ops.OutputPaths;
import dev.requant.cuda.ComputeDevice;
import dev.requant.cuda.CudaUnavailableException;
import dev.requant.ops.EnvironmentException;
import dev.requant.runtime.ForwardSession;
import dev.requant.runtime.GpuWeights;
import dev.requant.runtime.SessionSpec;
import dev.requant.runtime.device.Sessions;
import dev.requant.runtime.cpu.CpuThreads;
import dev.requant.runtime.eval.EvalResult;
import dev.requant.runtime.eval.Evaluator;
import dev.requant.runtime.eval.LogitsFile;
import dev.requant.formats.model.GemmaConfig;
import dev.requant.runtime.model.GemmaWeights;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import dev.requant.formats.io.InputFiles;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

/**
 * {@code eval}: perplexity and KL-divergence of models against a reference, with llama-perplexity's definitions. The
 * reference is a model (GGUF or HF folder) or a logits file (--save-base, llama-perplexity --kl-divergence-base).
 */
public final class Eval implements Operation<Eval.Request, Eval.Result> {
    /**
     * @param text the evaluation text; not needed with a logits-file reference
     * @param chunks at most this many chunks, -1 for all
     * @param saveBase where to write the reference's log-probs (llama.cpp's --kl-divergence-base format), or null
     * @param gpuWeights where the GPU sessions keep the weights (resident, streamed from host memory, or chosen by size)
     */
    public record Request(Path base, List<Path> compare, Path text, int nCtx, int chunks, Path saveBase, ComputeDevice device, int threads,
                          GpuWeights gpuWeights) {
        public Request {
            compare = List.copyOf(compare);
            if (gpuWeights == null) gpuWeights = GpuWeights.AUTO;
        }

        /** With the GPU weights placed automatically. */
        public Request(Path base, List<Path> compare, Path text, int nCtx, int chunks, Path saveBase, ComputeDevice device, int threads) {
            this(base, compare, text, nCtx, chunks, saveBase, device, threads, GpuWeights.AUTO);
        }

        public static Request of(Path base, List<Path> compare, Path text, int nCtx) {
            return new Request(base, compare, text, nCtx, -1, null, ComputeDevice.AUTO, Runtime.getRuntime().availableProcessors());
        }
    }

    /**
     * @param backend "CPU backend, N threads" or the GPU session's description
     * @param peakDeviceBytes the most GPU memory any model's session held, 0 on the CPU
     * @param tokens tokens run through the models (each model's chunks x n_ctx, summed over the models run)
     * @param seconds wall time of those runs: loading, upload and tokenization excluded (llama-perplexity's clock
     *     from "calculating perplexity" to its final estimate)
     */
    public record Result(EvalResult result, String backend, long peakDeviceBytes, long tokens, double seconds) {
        public double tokensPerSecond() { return seconds > 0 ? tokens / seconds : 0; }
    }

    /** Sequences of a GPU batch: enough of them to fill about 2,048 tokens, as llama-perplexity's default -b. */
    private static final int GPU_BATCH_TOKENS = 2048;

    @Override
    public Result run(Request r, OperationContext ctx) throws OperationException {
        if (r.nCtx() < 4) throw new BadInputException("-c must be at least 4, got " + r.nCtx());
        if (r.chunks() == 0 || r.chunks() < -1) throw new BadInputException("--chunks must be positive, got " + r.chunks());
        if (r.threads() < 1) throw new BadInputException("--threads must be at least 1");
        if (!Files.exists(r.base())) throw new BadInputException(r.base() + ": no such file or folder");
        for (Path q : r.compare()) if (!Files.exists(q)) throw new BadInputException(q + ": no such file or folder");
        boolean baseIsFile = LogitsFile.looksLikeLogitsFile(r.base());
        if (baseIsFile && r.saveBase() != null) throw new BadInputException("--save-base needs a model as --base, not a logits file");
        if (!baseIsFile && r.text() == null) throw new BadInputException("--text FILE is required when --base is a model");
        if (!baseIsFile) requireText(r.text());
        List<Path> inputs = new ArrayList<>(r.compare());
        inputs.add(r.base());
        if (r.text() != null) inputs.add(r.text());
        OutputPaths.checkFile(r.saveBase(), inputs);

        Opened open = new Opened();
        try (CpuThreads pool = new CpuThreads(r.threads())) {
            List<ModelSource> compareSources = new ArrayList<>();
            for (Path q : r.compare()) {
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
                baseFile = LogitsFile.open(r.base());
                open.add(baseFile);
                if (compareSources.isEmpty()) throw new BadInputException(r.base() + ": a logits file needs a model to compare with it");
                tokenizerSource = compareSources.getFirst();
                if (r.text() != null) ctx.notice("eval: --text is ignored: the tokens come from " + r.base());
            } else {
                baseSource = ModelSources.open(r.base());
                open.add(baseSource);
                tokenizerSource = baseSource;
                checkComparable(r.base(), GemmaConfig.of(baseSource), r.compare(), compareSources, ctx);
                tokens = tokenize(r, baseSource);
            }
            int nCtx = baseIsFile ? baseFile.nCtx() : r.nCtx();
            List<ForwardSession> sessions = new ArrayList<>();
            List<Evaluator.Model> compares = new ArrayList<>();
            for (int i = 0; i < compareSources.size(); i++) {
                ForwardSession s = session(compareSources.get(i), r, nCtx, pool, ctx);
                open.add(s);
                sessions.add(s);
                compares.add(new Evaluator.Model(displayName(r.compare().get(i)), s));
            }
            if (baseIsFile) {
                ref = new Evaluator.FileReference(displayName(r.base()), baseFile);
            } else {
                int nChunk = Evaluator.chunkCount(tokens.length, r.nCtx(), r.chunks());
                if (r.saveBase() != null && nChunk > 0 && tokens.length >= 2 * r.nCtx()) {
                    writer = new LogitsFile.Writer(r.saveBase(), r.nCtx(), GemmaConfig.of(baseSource).nVocab(), nChunk, tokens);
                    open.add(writer);
                }
                ForwardSession s = session(baseSource, r, nCtx, pool, ctx);
                open.add(s);
                sessions.add(s);
                ref = new Evaluator.ModelReference(new Evaluator.Model(displayName(r.base()), s), writer);
            }
            LlamaVocab vocab = Tokenizer.fromMetadata(tokenizerSource.metadata()).vocab();
            int bos = vocab.addBos() ? vocab.bos() : -1;

            int runs = compares.size() + (baseIsFile ? 0 : 1);
            ctx.progress().begin("eval", Math.max(1, totalTokens(ref, tokens, r, runs)), "tok");
            long[] done = {0};
            long t0 = System.nanoTime();
            EvalResult result = Evaluator.run(ref, compares, tokens, new Evaluator.Settings(r.nCtx(), r.chunks(), bos), (m, c, n) -> {
                ctx.checkCancelled();
                done[0] += n;
                ctx.progress().stepTo(done[0]);
                ctx.progress().message(m + " chunk " + (c + 1));
            });
            double seconds = (System.nanoTime() - t0) / 1e9;
            ctx.progress().end();
            if (writer != null) writer.commit();
            long peak = sessions.stream().mapToLong(ForwardSession::peakDeviceBytes).max().orElse(0);
            return new Result(result, backend(sessions, r.threads(), peak), peak, (long) runs * result.nChunk() * result.nCtx(), seconds);
        } catch (Exception e) {
            throw OperationException.of(e);
        } finally {
            open.close(); // read-only sources, sessions and an uncommitted writer (which deletes its temporary file)
        }
    }

    /** A session of n_ctx tokens per sequence scoring the second half of each, on the device asked for. */
    private static ForwardSession session(ModelSource src, Request r, int nCtx, CpuThreads pool, OperationContext ctx)
            throws IOException, EnvironmentException {
        GemmaConfig c = GemmaConfig.of(src);
        SessionSpec spec = SessionSpec.eval(nCtx, Math.max(1, GPU_BATCH_TOKENS / nCtx), LogitsFile.scoredPerChunk(nCtx), null)
                .withGpuWeights(r.gpuWeights());
        try {
            return Sessions.open(r.device(), c, GemmaWeights.load(src, c), spec, pool, ctx::notice);
        } catch (CudaUnavailableException e) {
            throw new EnvironmentException("--device cuda: " + e.getMessage(), e);
        }
    }

    /** The report's footnote: the CPU's thread count, or the GPU session's description and its peak memory. */
    private static String backend(List<ForwardSession> sessions, int threads, long peak) {
        String d = sessions.isEmpty() ? "cpu" : sessions.getFirst().description();
        if (d.startsWith("cpu")) return "CPU backend, " + threads + " threads";
        return String.format(java.util.Locale.ROOT, "GPU backend: %s, peak GPU memory %.2f GiB", d, peak / (double) (1L << 30));
    }

    /** A KL divergence needs the same vocabulary; another architecture is allowed but rarely meant. */
    private static void checkComparable(Path base, GemmaConfig bc, List<Path> compare, List<ModelSource> sources, OperationContext ctx)
            throws IOException, BadInputException {
        for (int i = 0; i < sources.size(); i++) {
            GemmaConfig c = GemmaConfig.of(sources.get(i));
            if (c.nVocab() != bc.nVocab()) {
                throw new BadInputException(compare.get(i) + ": has a vocabulary of " + c.nVocab() + " tokens, the reference " + base
                        + " of " + bc.nVocab() + "; KL divergence compares the same vocabulary");
            }
            if (c.arch() != bc.arch()) {
                ctx.notice(compare.get(i) + " is " + c.arch().ggufName() + ", the reference " + base + " is " + bc.arch().ggufName()
                        + ": the divergence measures different models, not a quantization");
            }
        }
    }

    private static int[] tokenize(Request r, ModelSource src) throws IOException, BadInputException {
        String s = InputFiles.readText(r.text(), "text file");
        int[] t = Tokenizer.fromMetadata(src.metadata()).encode(s, true, false);
        if (t.length < 2 * r.nCtx()) {
            throw new BadInputException(r.text() + " tokenizes to " + t.length + " tokens; -c " + r.nCtx() + " needs at least "
                    + 2 * r.nCtx() + " (as llama-perplexity requires)");
        }
        return t;
    }

    private static long totalTokens(Evaluator.Reference ref, int[] tokens, Request r, int runs) {
        int n;
        int ctx;
        if (ref instanceof Evaluator.FileReference f) {
            ctx = f.file().nCtx();
            n = Evaluator.chunkCount(ctx * f.file().nChunk(), ctx, r.chunks());
        } else {
            ctx = r.nCtx();
            n = Evaluator.chunkCount(tokens.length, r.nCtx(), r.chunks());
        }
        return (long) n * ctx * runs;
    }

    /** The name a model is reported under: its file or folder name. */
    public static String displayName(Path p) {
        Path n = p.getFileName();
        return n == null ? p.toString() : n.toString();
    }

    /** A text input that is a regular file (not missing, not a FIFO that would hang the read). */
    private static void requireText(Path text) throws OperationException {
        try {
            InputFiles.requireRegular(text, "text file");
        } catch (java.io.IOException e) {
            throw OperationException.of(e);
        }
    }
}
