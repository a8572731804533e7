package dev.requant.ops.eval;

import dev.requant.converter.ModelSources;
import dev.requant.formats.model.ModelSource;
import dev.requant.formats.tokenizer.LlamaVocab;
import dev.requant.formats.tokenizer.Tokenizer;
import dev.requant.ops.BadInputException;
import dev.requant.ops.Operation;
import dev.requant.ops.OperationContext;
import dev.requant.ops.OperationException;
import dev.requant.ops.OutputPaths;
import dev.requant.runtime.cpu.CpuModel;
import dev.requant.runtime.cpu.CpuThreads;
import dev.requant.runtime.eval.EvalResult;
import dev.requant.runtime.eval.Evaluator;
import dev.requant.runtime.eval.LogitsFile;
import dev.requant.formats.model.GemmaConfig;
import dev.requant.runtime.model.GemmaWeights;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
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
     */
    public record Request(Path base, List<Path> compare, Path text, int nCtx, int chunks, Path saveBase, int threads) {
        public Request {
            compare = List.copyOf(compare);
        }

        public static Request of(Path base, List<Path> compare, Path text, int nCtx) {
            return new Request(base, compare, text, nCtx, -1, null, Runtime.getRuntime().availableProcessors());
        }
    }

    public record Result(EvalResult result, int threads) {}

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
        if (!baseIsFile && !Files.isRegularFile(r.text())) throw new BadInputException(r.text() + ": no such text file");
        List<Path> inputs = new ArrayList<>(r.compare());
        inputs.add(r.base());
        if (r.text() != null) inputs.add(r.text());
        OutputPaths.checkFile(r.saveBase(), inputs);

        List<AutoCloseable> open = new ArrayList<>();
        try (CpuThreads pool = new CpuThreads(r.threads())) {
            List<Evaluator.Model> compares = new ArrayList<>();
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
            GemmaConfig baseConfig = null;
            if (baseIsFile) {
                LogitsFile lf = LogitsFile.open(r.base());
                open.add(lf);
                ref = new Evaluator.FileReference(displayName(r.base()), lf);
                if (compareSources.isEmpty()) throw new BadInputException(r.base() + ": a logits file needs a model to compare with it");
                tokenizerSource = compareSources.getFirst();
                if (r.text() != null) ctx.notice("eval: --text is ignored: the tokens come from " + r.base());
            } else {
                ModelSource src = ModelSources.open(r.base());
                open.add(src);
                tokenizerSource = src;
                baseConfig = GemmaConfig.of(src);
                checkComparable(r.base(), baseConfig, r.compare(), compareSources, ctx);
                tokens = tokenize(r, src);
                int nChunk = Evaluator.chunkCount(tokens.length, r.nCtx(), r.chunks());
                if (r.saveBase() != null && nChunk > 0 && tokens.length >= 2 * r.nCtx()) {
                    writer = new LogitsFile.Writer(r.saveBase(), r.nCtx(), baseConfig.nVocab(), nChunk, tokens);
                    open.add(writer);
                }
                ref = new Evaluator.ModelReference(new Evaluator.Model(displayName(r.base()), load(src, baseConfig, pool)), writer);
            }
            for (int i = 0; i < compareSources.size(); i++) {
                ModelSource src = compareSources.get(i);
                compares.add(new Evaluator.Model(displayName(r.compare().get(i)), load(src, GemmaConfig.of(src), pool)));
            }
            LlamaVocab vocab = Tokenizer.fromMetadata(tokenizerSource.metadata()).vocab();
            int bos = vocab.addBos() ? vocab.bos() : -1;

            int runs = compares.size() + (baseIsFile ? 0 : 1);
            ctx.progress().begin("eval", Math.max(1, totalTokens(ref, tokens, r, runs)), "tok");
            long[] done = {0};
            EvalResult result = Evaluator.run(ref, compares, tokens, new Evaluator.Settings(r.nCtx(), r.chunks(), bos), (m, c, n) -> {
                ctx.checkCancelled();
                done[0] += n;
                ctx.progress().stepTo(done[0]);
                ctx.progress().message(m + " chunk " + (c + 1));
            });
            ctx.progress().end();
            if (writer != null) writer.commit();
            return new Result(result, r.threads());
        } catch (Exception e) {
            throw OperationException.of(e);
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
        String s = Files.readString(r.text(), StandardCharsets.UTF_8);
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

    private static CpuModel load(ModelSource src, GemmaConfig c, CpuThreads pool) throws IOException {
        return new CpuModel(c, GemmaWeights.load(src, c), pool, false, true);
    }

    /** The name a model is reported under: its file or folder name. */
    public static String displayName(Path p) {
        Path n = p.getFileName();
        return n == null ? p.toString() : n.toString();
    }
}
