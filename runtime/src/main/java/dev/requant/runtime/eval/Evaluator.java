package dev.requant.runtime.eval;

import dev.requant.runtime.cpu.CpuModel;
import dev.requant.runtime.cpu.CpuSession;
import java.io.IOException;
import java.util.ArrayList;
import java.util.List;

/**
 * Perplexity and KL-divergence of models against a reference, chunked exactly like llama-perplexity
 * (tools/perplexity/perplexity.cpp, llamacpp-formats.md §6): the token stream is cut into {@code n_chunk = min(--chunks,
 * tokens / n_ctx)} chunks of {@code n_ctx}, each run from an empty KV cache at positions 0..n_ctx-1 with its first
 * token replaced by BOS (when the vocabulary adds BOS), and only the positions {@code n_ctx/2 .. n_ctx-2} are scored
 * against the next token. Chunks are processed one at a time: the reference first (a model, or a saved logits file),
 * then every compared model, so only one chunk of reference log-probs is ever held.
 *
 * <p>With a model as the reference, KLD uses its exact float log-probs. With a logits file as the reference (written by
 * {@code --save-base} or by {@code llama-perplexity --kl-divergence-base}), it uses the file's 16-bit log-probs and skips
 * terms whose base log-prob is at or below -16, exactly like {@code llama-perplexity --kl-divergence}.
 */
public final class Evaluator {
    /** A model to run, with the name shown in reports. */
    public record Model(String name, CpuModel model) {}

    /** The reference: a model (optionally saving its logits file) or a logits file. */
    public sealed interface Reference permits ModelReference, FileReference {}

    /** @param saveTo where to write the reference's logits file, or null */
    public record ModelReference(Model model, LogitsFile.Writer saveTo) implements Reference {}

    public record FileReference(String name, LogitsFile file) implements Reference {}

    /** Called after each model has run a chunk, with the tokens it evaluated (for progress and speed). */
    @FunctionalInterface
    public interface Progress {
        void ranChunk(String model, int chunk, int tokens);
    }

    /**
     * @param bosId the BOS token id, or -1 when the vocabulary does not add BOS
     */
    public record Settings(int nCtx, int maxChunks, int bosId) {
        public Settings {
            if (nCtx < 4) throw new IllegalArgumentException("context size must be at least 4, got " + nCtx);
        }
    }

    /** The number of chunks llama-perplexity evaluates: min(maxChunks, tokens / n_ctx), maxChunks < 0 meaning all. */
    public static int chunkCount(int nTokens, int nCtx, int maxChunks) {
        int max = nTokens / nCtx;
        return maxChunks < 0 ? max : Math.min(maxChunks, max);
    }

    /**
     * Runs the evaluation. For a model reference, {@code tokens} is the tokenized text and must hold at least
     * 2·n_ctx tokens (llama-perplexity's requirement); for a file reference, the file's tokens and n_ctx are used.
     */
    public static EvalResult run(Reference ref, List<Model> compares, int[] tokens, Settings s, Progress progress) throws IOException {
        int nCtx;
        int nChunk;
        int nVocab;
        String refName;
        if (ref instanceof FileReference f) {
            nCtx = f.file().nCtx();
            nChunk = chunkCount(f.file().nCtx() * f.file().nChunk(), nCtx, s.maxChunks());
            nVocab = f.file().nVocab();
            tokens = f.file().tokens();
            refName = f.name();
        } else {
            ModelReference m = (ModelReference) ref;
            nCtx = s.nCtx();
            if (tokens.length < 2 * nCtx) {
                throw new IllegalArgumentException("the text tokenizes to " + tokens.length + " tokens; a context of " + nCtx
                        + " needs at least " + 2 * nCtx + " (as llama-perplexity requires)");
            }
            nChunk = chunkCount(tokens.length, nCtx, s.maxChunks());
            nVocab = m.model().model().config().nVocab();
            refName = m.model().name();
        }
        for (Model c : compares) {
            int v = c.model().config().nVocab();
            if (v != nVocab) {
                throw new IllegalArgumentException(c.name() + " has a vocabulary of " + v + " tokens, the reference " + refName + " has " + nVocab);
            }
        }
        int first = nCtx / 2;
        int scored = LogitsFile.scoredPerChunk(nCtx);
        FastTokenScores.BaseRow[] base = new FastTokenScores.BaseRow[scored];
        for (int i = 0; i < scored; i++) base[i] = new FastTokenScores.BaseRow(nVocab);
        List<KldAccumulator> acc = new ArrayList<>();
        for (int i = 0; i < compares.size(); i++) acc.add(new KldAccumulator());
        PerplexityAccumulator refPpl = new PerplexityAccumulator();
        List<CpuSession> sessions = new ArrayList<>();
        for (Model c : compares) sessions.add(c.model().newSession(nCtx));
        CpuSession refSession = ref instanceof ModelReference m ? m.model().model().newSession(nCtx) : null;
        short[] rec = new short[TokenScores.recordWords(nVocab)];
        short[] chunkRecords = ref instanceof ModelReference m && m.saveTo() != null ? new short[scored * rec.length] : null;

        int[] chunkTokens = new int[nCtx];
        for (int chunk = 0; chunk < nChunk; chunk++) {
            int start = chunk * nCtx;
            System.arraycopy(tokens, start, chunkTokens, 0, nCtx);
            if (s.bosId() >= 0) chunkTokens[0] = s.bosId();
            final int[] toks = tokens;
            if (refSession != null) {
                refSession.clear();
                refSession.decode(chunkTokens, 0, nCtx, r -> r >= first && r <= nCtx - 2, (row, l, off) -> {
                    int tok = toks[start + row + 1];
                    FastTokenScores.BaseRow b = base[row - first];
                    b.setFromLogits(l, off, nVocab, tok);
                    refPpl.add(b.nllExact());
                    if (chunkRecords != null) TokenScores.encodeRecord(l, off, nVocab, tok, chunkRecords, (row - first) * rec.length);
                });
                if (chunkRecords != null) ((ModelReference) ref).saveTo().writeChunk(chunkRecords);
                progress.ranChunk(refName, chunk, nCtx);
            } else {
                LogitsFile file = ((FileReference) ref).file();
                for (int r = 0; r < scored; r++) {
                    file.record(chunk, r, rec);
                    base[r].setFromRecord(rec, nVocab, tokens[start + first + r + 1]);
                }
            }
            for (int mi = 0; mi < compares.size(); mi++) {
                CpuSession sess = sessions.get(mi);
                KldAccumulator a = acc.get(mi);
                sess.clear();
                sess.decode(chunkTokens, 0, nCtx, r -> r >= first && r <= nCtx - 2, (row, l, off) ->
                        a.add(FastTokenScores.kld(l, off, nVocab, base[row - first], toks[start + row + 1])));
                progress.ranChunk(compares.get(mi).name(), chunk, nCtx);
            }
        }
        List<EvalResult.Compared> results = new ArrayList<>();
        for (int i = 0; i < compares.size(); i++) results.add(new EvalResult.Compared(compares.get(i).name(), acc.get(i).report()));
        return new EvalResult(refName, ref instanceof FileReference, nCtx, nChunk, (long) nChunk * scored,
                refSession != null ? refPpl.report() : null, results);
    }
}
