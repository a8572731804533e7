package dev.requant.runtime.eval;

import dev.requant.runtime.ForwardBatch;
import dev.requant.runtime.ForwardSession;
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
 *
 * <p>Models run in {@link ForwardSession}s of sequence length n_ctx. Where every session scores on its device (the
 * GPU) and the reference is a model whose logits are not saved, chunks run in batches of as many as the sessions
 * take, the reference's log-probs stay on the device and only a few numbers per scored token come back. Otherwise
 * (the CPU, a logits-file reference, {@code --save-base}) one chunk at a time, with the logits rows scored on the host
 * by {@link FastTokenScores}. The statistics are added in the same order either way: chunk by chunk, row by row.
 */
public final class Evaluator {
    /** A model to run, with the name shown in reports; its session's sequence length must be the run's n_ctx. */
    public record Model(String name, ForwardSession session) {}

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
            nVocab = m.model().session().config().nVocab();
            refName = m.model().name();
        }
        for (Model c : compares) {
            int v = c.session().config().nVocab();
            if (v != nVocab) {
                throw new IllegalArgumentException(c.name() + " has a vocabulary of " + v + " tokens, the reference " + refName + " has " + nVocab);
            }
        }
        List<Model> all = new ArrayList<>(compares);
        if (ref instanceof ModelReference m) all.add(m.model());
        int scored = LogitsFile.scoredPerChunk(nCtx);
        for (Model m : all) {
            if (m.session().spec().sequenceLength() != nCtx || m.session().spec().logitsRows() < scored) {
                throw new IllegalArgumentException(m.name() + "'s session runs sequences of " + m.session().spec().sequenceLength()
                        + " tokens with " + m.session().spec().logitsRows() + " logits rows; this run needs " + nCtx + " and " + scored);
            }
        }
        List<KldAccumulator> acc = new ArrayList<>();
        for (int i = 0; i < compares.size(); i++) acc.add(new KldAccumulator());
        PerplexityAccumulator refPpl = new PerplexityAccumulator();
        boolean onDevice = ref instanceof ModelReference m && m.saveTo() == null
                && all.stream().allMatch(x -> x.session().scoresOnDevice());
        if (onDevice) {
            runOnDevice(((ModelReference) ref).model(), compares, tokens, nCtx, nChunk, s.bosId(), refPpl, acc, progress);
        } else {
            runOnHost(ref, compares, tokens, nCtx, nChunk, nVocab, s.bosId(), refName, refPpl, acc, progress);
        }
        List<EvalResult.Compared> results = new ArrayList<>();
        for (int i = 0; i < compares.size(); i++) results.add(new EvalResult.Compared(compares.get(i).name(), acc.get(i).report()));
        return new EvalResult(refName, ref instanceof FileReference, nCtx, nChunk, (long) nChunk * scored,
                ref instanceof ModelReference ? refPpl.report() : null, results);
    }

    /** Chunk {@code chunk}'s tokens into {@code dst} at {@code at}, the first replaced by BOS. */
    private static void chunkTokens(int[] tokens, int chunk, int nCtx, int bos, int[] dst, int at) {
        System.arraycopy(tokens, chunk * nCtx, dst, at, nCtx);
        if (bos >= 0) dst[at] = bos;
    }

    /** Batches of chunks, scores computed by the sessions next to the logits. */
    private static void runOnDevice(Model refModel, List<Model> compares, int[] tokens, int nCtx, int nChunk, int bos,
                                    PerplexityAccumulator refPpl, List<KldAccumulator> acc, Progress progress) {
        int first = nCtx / 2, scored = LogitsFile.scoredPerChunk(nCtx);
        int nb = refModel.session().spec().maxSequences();
        for (Model m : compares) nb = Math.min(nb, m.session().spec().maxSequences());
        int[] batch = new int[nb * nCtx];
        int[] targets = new int[nb * scored];
        try (ForwardSession.ScoreBase base = refModel.session().newScoreBase(nb * scored)) {
            for (int c0 = 0; c0 < nChunk; c0 += nb) {
                int n = Math.min(nb, nChunk - c0);
                for (int q = 0; q < n; q++) {
                    chunkTokens(tokens, c0 + q, nCtx, bos, batch, q * nCtx);
                    for (int r = 0; r < scored; r++) targets[q * scored + r] = tokens[(c0 + q) * nCtx + first + r + 1];
                }
                int rows = n * scored;
                ForwardBatch.RowScores rs = new ForwardBatch.RowScores(rows);
                refModel.session().run(ForwardBatch.scored(batch, n, first, nCtx - 1, new ForwardBatch.Scoring(targets, base, true, rs)));
                for (int i = 0; i < rows; i++) refPpl.add(rs.nllExact()[i]);
                for (int q = 0; q < n; q++) progress.ranChunk(refModel.name(), c0 + q, nCtx);
                for (int mi = 0; mi < compares.size(); mi++) {
                    Model m = compares.get(mi);
                    ForwardBatch.RowScores cs = new ForwardBatch.RowScores(rows);
                    m.session().run(ForwardBatch.scored(batch, n, first, nCtx - 1, new ForwardBatch.Scoring(targets, base, false, cs)));
                    KldAccumulator a = acc.get(mi);
                    for (int i = 0; i < rows; i++) {
                        a.add(new TokenScores.TokenKld(cs.nll()[i], cs.nllBase()[i], cs.kld()[i], cs.pDiff()[i], cs.sameTop()[i]));
                    }
                    for (int q = 0; q < n; q++) progress.ranChunk(m.name(), c0 + q, nCtx);
                }
            }
        }
    }

    /** One chunk at a time, logits rows scored on the host. */
    private static void runOnHost(Reference ref, List<Model> compares, int[] tokens, int nCtx, int nChunk, int nVocab,
                                  int bos, String refName, PerplexityAccumulator refPpl, List<KldAccumulator> acc,
                                  Progress progress) throws IOException {
        int first = nCtx / 2;
        int scored = LogitsFile.scoredPerChunk(nCtx);
        FastTokenScores.BaseRow[] base = new FastTokenScores.BaseRow[scored];
        for (int i = 0; i < scored; i++) base[i] = new FastTokenScores.BaseRow(nVocab);
        ForwardSession refSession = ref instanceof ModelReference m ? m.model().session() : null;
        short[] rec = new short[TokenScores.recordWords(nVocab)];
        short[] chunkRecords = ref instanceof ModelReference m && m.saveTo() != null ? new short[scored * rec.length] : null;

        int[] chunkTokens = new int[nCtx];
        for (int chunk = 0; chunk < nChunk; chunk++) {
            int start = chunk * nCtx;
            chunkTokens(tokens, chunk, nCtx, bos, chunkTokens, 0);
            final int[] toks = tokens;
            if (refSession != null) {
                refSession.run(ForwardBatch.logits(chunkTokens, 1, first, nCtx - 1, (seq, row, l, off) -> {
                    int tok = toks[start + row + 1];
                    FastTokenScores.BaseRow b = base[row - first];
                    b.setFromLogits(l, off, nVocab, tok);
                    refPpl.add(b.nllExact());
                    if (chunkRecords != null) TokenScores.encodeRecord(l, off, nVocab, tok, chunkRecords, (row - first) * rec.length);
                }));
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
                KldAccumulator a = acc.get(mi);
                compares.get(mi).session().run(ForwardBatch.logits(chunkTokens, 1, first, nCtx - 1, (seq, row, l, off) ->
                        a.add(FastTokenScores.kld(l, off, nVocab, base[row - first], toks[start + row + 1]))));
                progress.ranChunk(compares.get(mi).name(), chunk, nCtx);
            }
        }
    }
}
