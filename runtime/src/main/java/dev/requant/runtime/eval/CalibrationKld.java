package dev.requant.runtime.eval;

import dev.requant.runtime.ForwardBatch;
import dev.requant.runtime.ForwardSession;
import dev.requant.runtime.SessionSpec;

/**
 * The mean KL divergence of a model from a reference on a few calibration chunks, many times over: the reference's
 * distributions of every scored token are computed once and kept in memory as exact float log-probs (no 16-bit
 * logits file, whose rounding would swamp the divergence of one tensor quantized to Q8_0). Chunks and scored
 * positions as llama-perplexity's (see {@link Evaluator}): the second half of each chunk of n_ctx, first token BOS.
 * Memory: two floats per vocabulary entry per scored token.
 */
public final class CalibrationKld {
    private final int nCtx;
    private final int nChunk;
    private final int nVocab;
    private final int[][] chunkTokens;
    private final int[][] targets;
    private final FastTokenScores.BaseRow[][] base;
    private final double referenceNll;

    private CalibrationKld(int nCtx, int nChunk, int nVocab, int[][] chunkTokens, int[][] targets, FastTokenScores.BaseRow[][] base,
            double referenceNll) {
        this.nCtx = nCtx;
        this.nChunk = nChunk;
        this.nVocab = nVocab;
        this.chunkTokens = chunkTokens;
        this.targets = targets;
        this.base = base;
        this.referenceNll = referenceNll;
    }

    /** The session spec a model needs to be measured here. */
    public static SessionSpec spec(int nCtx) {
        return SessionSpec.eval(nCtx, 1, LogitsFile.scoredPerChunk(nCtx), null);
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
        FastTokenScores.BaseRow[][] base = new FastTokenScores.BaseRow[n][scored];
        double nll = 0;
        for (int c = 0; c < n; c++) {
            toks[c] = java.util.Arrays.copyOfRange(tokens, c * nCtx, (c + 1) * nCtx);
            if (bos >= 0) toks[c][0] = bos;
            for (int r = 0; r < scored; r++) {
                targets[c][r] = tokens[c * nCtx + first + r + 1];
                base[c][r] = new FastTokenScores.BaseRow(nVocab);
            }
            final int chunk = c;
            reference.run(ForwardBatch.logits(toks[c], 1, first, nCtx - 1, (seq, row, l, off) ->
                    base[chunk][row - first].setFromLogits(l, off, nVocab, targets[chunk][row - first])));
            for (int r = 0; r < scored; r++) nll += base[c][r].nllExact();
        }
        return new CalibrationKld(nCtx, n, nVocab, toks, targets, base, nll / ((double) n * scored));
    }

    public int nCtx() { return nCtx; }

    public int chunks() { return nChunk; }

    public long scoredTokens() { return (long) nChunk * LogitsFile.scoredPerChunk(nCtx); }

    /** The reference's mean negative log-likelihood of the scored tokens (ln of its perplexity). */
    public double referenceNll() { return referenceNll; }

    /** The mean KLD (nats per scored token) of {@code model} from the reference, llama-perplexity's definition. */
    public double meanKld(ForwardSession model) {
        if (model.config().nVocab() != nVocab) {
            throw new IllegalArgumentException("a vocabulary of " + model.config().nVocab() + " tokens, the reference has " + nVocab);
        }
        int first = nCtx / 2;
        double[] sum = {0};
        for (int c = 0; c < nChunk; c++) {
            final int chunk = c;
            model.run(ForwardBatch.logits(chunkTokens[c], 1, first, nCtx - 1, (seq, row, l, off) ->
                    sum[0] += FastTokenScores.kld(l, off, nVocab, base[chunk][row - first], targets[chunk][row - first]).kld()));
        }
        return sum[0] / scoredTokens();
    }
}
