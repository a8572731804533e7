package dev.requant.runtime.eval;

import dev.requant.runtime.ForwardBatch;
import dev.requant.runtime.ForwardSession;
import dev.requant.runtime.SessionSpec;
import java.util.ArrayList;
import java.util.List;

/**
 * The mean KL divergence of a model from a reference on a few calibration chunks, many times over: the reference's
 * distributions of every scored token are computed once and kept as exact float log-probs (no 16-bit logits file,
 * whose rounding would swamp the divergence of one tensor quantized to Q8_0). Chunks and scored positions as
 * llama-perplexity's (see {@link Evaluator}): the second half of each chunk of n_ctx, first token BOS.
 *
 * <p>Where the reference session scores on its device ({@link ForwardSession#scoresOnDevice()}), the distributions
 * stay there ({@link ForwardSession.ScoreBase}, one per batch of the session's sequences) and every measured model is
 * scored there too, so no vocabulary-wide row crosses to the host; such a measurement holds device memory until
 * {@link #close} and must be closed before the reference session. Otherwise they are kept in host memory, two floats
 * per vocabulary entry per scored token, and logits come to the host.
 */
public final class CalibrationKld implements AutoCloseable {
    private final int nCtx;
    private final int nChunk;
    private final int nVocab;
    private final int[][] chunkTokens;
    private final int[][] targets;
    /** Host mode: the reference's rows by chunk and scored position; null in device mode. */
    private final FastTokenScores.BaseRow[][] base;
    /** Device mode: one base per batch of {@link #perBatch} chunks; null in host mode. */
    private final List<ForwardSession.ScoreBase> deviceBases;
    private final int perBatch;
    private final double referenceNll;

    private CalibrationKld(int nCtx, int nChunk, int nVocab, int[][] chunkTokens, int[][] targets, FastTokenScores.BaseRow[][] base,
            List<ForwardSession.ScoreBase> deviceBases, int perBatch, double referenceNll) {
        this.nCtx = nCtx;
        this.nChunk = nChunk;
        this.nVocab = nVocab;
        this.chunkTokens = chunkTokens;
        this.targets = targets;
        this.base = base;
        this.deviceBases = deviceBases;
        this.perBatch = perBatch;
        this.referenceNll = referenceNll;
    }

    /** The session spec a model needs to be measured here, one chunk per batch. */
    public static SessionSpec spec(int nCtx) {
        return spec(nCtx, 1);
    }

    /** The session spec a model needs to be measured here, up to {@code chunksPerBatch} chunks per batch. */
    public static SessionSpec spec(int nCtx, int chunksPerBatch) {
        return SessionSpec.eval(nCtx, chunksPerBatch, LogitsFile.scoredPerChunk(nCtx), null);
    }

    /**
     * Runs the reference over the first {@code chunks} chunks of {@code tokens}.
     *
     * @param bos the BOS id put first in every chunk, or -1
     */
    public static CalibrationKld of(ForwardSession reference, int[] tokens, int nCtx, int chunks, int bos) {
        int n = Evaluator.chunkCount(tokens.length, nCtx, chunks);
        if (n < 1) throw new IllegalArgumentException("the text tokenizes to " + tokens.length + " tokens, less than one chunk of " + nCtx);
        int nVocab = reference.config().nVocab();
        int first = nCtx / 2, scored = LogitsFile.scoredPerChunk(nCtx);
        int[][] toks = new int[n][];
        int[][] targets = new int[n][scored];
        for (int c = 0; c < n; c++) {
            toks[c] = java.util.Arrays.copyOfRange(tokens, c * nCtx, (c + 1) * nCtx);
            if (bos >= 0) toks[c][0] = bos;
            for (int r = 0; r < scored; r++) targets[c][r] = tokens[c * nCtx + first + r + 1];
        }
        double nll = 0;
        if (reference.scoresOnDevice()) {
            int nb = Math.max(1, reference.spec().maxSequences());
            List<ForwardSession.ScoreBase> bases = new ArrayList<>();
            try {
                for (int c0 = 0; c0 < n; c0 += nb) {
                    int m = Math.min(nb, n - c0);
                    ForwardSession.ScoreBase b = reference.newScoreBase(m * scored);
                    bases.add(b);
                    ForwardBatch.RowScores rs = new ForwardBatch.RowScores(m * scored);
                    reference.run(ForwardBatch.scored(batchTokens(toks, c0, m, nCtx), m, first, nCtx - 1,
                            new ForwardBatch.Scoring(batchTargets(targets, c0, m, scored), b, true, rs)));
                    for (double v : rs.nllExact()) nll += v;
                }
            } catch (RuntimeException e) {
                for (ForwardSession.ScoreBase b : bases) b.close();
                throw e;
            }
            return new CalibrationKld(nCtx, n, nVocab, toks, targets, null, List.copyOf(bases), nb, nll / ((double) n * scored));
        }
        FastTokenScores.BaseRow[][] base = new FastTokenScores.BaseRow[n][scored];
        for (int c = 0; c < n; c++) {
            for (int r = 0; r < scored; r++) base[c][r] = new FastTokenScores.BaseRow(nVocab);
            final int chunk = c;
            reference.run(ForwardBatch.logits(toks[c], 1, first, nCtx - 1, (seq, row, l, off) ->
                    base[chunk][row - first].setFromLogits(l, off, nVocab, targets[chunk][row - first])));
            for (int r = 0; r < scored; r++) nll += base[c][r].nllExact();
        }
        return new CalibrationKld(nCtx, n, nVocab, toks, targets, base, null, 1, nll / ((double) n * scored));
    }

    private static int[] batchTokens(int[][] toks, int c0, int m, int nCtx) {
        int[] b = new int[m * nCtx];
        for (int q = 0; q < m; q++) System.arraycopy(toks[c0 + q], 0, b, q * nCtx, nCtx);
        return b;
    }

    private static int[] batchTargets(int[][] targets, int c0, int m, int scored) {
        int[] b = new int[m * scored];
        for (int q = 0; q < m; q++) System.arraycopy(targets[c0 + q], 0, b, q * scored, scored);
        return b;
    }

    public int nCtx() { return nCtx; }

    public int chunks() { return nChunk; }

    public long scoredTokens() { return (long) nChunk * LogitsFile.scoredPerChunk(nCtx); }

    /** The reference's mean negative log-likelihood of the scored tokens (ln of its perplexity). */
    public double referenceNll() { return referenceNll; }

    /** Whether the reference's distributions are on a device (then measured models must score there). */
    public boolean onDevice() { return deviceBases != null; }

    /**
     * The mean KLD (nats per scored token) of {@code model} from the reference, llama-perplexity's definition. In device
     * mode {@code model} must score on the reference's device with room for as many sequences per batch.
     */
    public double meanKld(ForwardSession model) {
        if (model.config().nVocab() != nVocab) {
            throw new IllegalArgumentException("a vocabulary of " + model.config().nVocab() + " tokens, the reference has " + nVocab);
        }
        int first = nCtx / 2;
        double sum = 0;
        if (deviceBases != null) {
            if (!model.scoresOnDevice() || model.spec().maxSequences() < perBatch) {
                throw new IllegalArgumentException(model.description() + " cannot score against a reference kept on the device"
                        + " in batches of " + perBatch + " chunks");
            }
            int scored = LogitsFile.scoredPerChunk(nCtx);
            for (int bi = 0; bi < deviceBases.size(); bi++) {
                int c0 = bi * perBatch, m = Math.min(perBatch, nChunk - c0);
                ForwardBatch.RowScores rs = new ForwardBatch.RowScores(m * scored);
                model.run(ForwardBatch.scored(batchTokens(chunkTokens, c0, m, nCtx), m, first, nCtx - 1,
                        new ForwardBatch.Scoring(batchTargets(targets, c0, m, scored), deviceBases.get(bi), false, rs)));
                for (double v : rs.kld()) sum += v;
            }
            return sum / scoredTokens();
        }
        double[] acc = {0};
        for (int c = 0; c < nChunk; c++) {
            final int chunk = c;
            model.run(ForwardBatch.logits(chunkTokens[c], 1, first, nCtx - 1, (seq, row, l, off) ->
                    acc[0] += FastTokenScores.kld(l, off, nVocab, base[chunk][row - first], targets[chunk][row - first]).kld()));
        }
        return acc[0] / scoredTokens();
    }

    /** Frees the device distributions (before the reference session closes); nothing in host mode. */
    @Override
    public void close() {
        if (deviceBases != null) for (ForwardSession.ScoreBase b : deviceBases) b.close();
    }
}
