package dev.requant.runtime;

/**
 * One batch of a {@link ForwardSession}: {@code sequences} sequences of the session's sequence length,
 * sequence-major in {@code tokens}, and what to deliver.
 *
 * @param collectedRows the batch rows whose matrix inputs are collected, as {@code [start, end)} pairs in ascending
 *     order (llama-imatrix's ubatches of at least 16 rows), or null to collect nothing
 * @param outFrom first position of each sequence whose logits are wanted
 * @param outTo end (exclusive) of those positions; {@code outFrom == outTo}: no logits
 * @param logits receives them on the host, or null
 * @param scoring scores them where they are computed instead (then {@code logits} is null)
 */
public record ForwardBatch(int[] tokens, int sequences, int[] collectedRows, int outFrom, int outTo,
                           ForwardSession.LogitsSink logits, Scoring scoring) {
    public ForwardBatch {
        if (sequences < 1) throw new IllegalArgumentException("a batch needs at least one sequence");
        if (outFrom < 0 || outTo < outFrom) throw new IllegalArgumentException("bad logits range " + outFrom + ".." + outTo);
        if (logits != null && scoring != null) throw new IllegalArgumentException("logits go to a sink or are scored, not both");
        if (outTo > outFrom && logits == null && scoring == null) throw new IllegalArgumentException("logits asked for but not taken");
    }

    /** Imatrix collection of the rows listed, no logits. */
    public static ForwardBatch collect(int[] tokens, int sequences, int[] collectedRows) {
        return new ForwardBatch(tokens, sequences, collectedRows, 0, 0, null, null);
    }

    /** The logits of positions {@code [from, to)} of every sequence, on the host. */
    public static ForwardBatch logits(int[] tokens, int sequences, int from, int to, ForwardSession.LogitsSink sink) {
        return new ForwardBatch(tokens, sequences, null, from, to, sink, null);
    }

    /** Scores of positions {@code [from, to)} of every sequence. */
    public static ForwardBatch scored(int[] tokens, int sequences, int from, int to, Scoring scoring) {
        return new ForwardBatch(tokens, sequences, null, from, to, null, scoring);
    }

    /** Positions per sequence whose logits are wanted. */
    public int outRows() { return outTo - outFrom; }

    /**
     * Per-token scores of the logits rows (row {@code i} is sequence {@code i / outRows()}, position
     * {@code outFrom + i % outRows()}), llama-perplexity's definitions ({@code runtime.eval.TokenScores}).
     * A reference batch ({@code reference}) fills {@code base} with its log-probs and {@code out}'s {@code nll} and
     * {@code nllExact}; a compared batch reads {@code base} and fills every field of {@code out}.
     *
     * @param targets the next token of every scored row
     */
    public record Scoring(int[] targets, ForwardSession.ScoreBase base, boolean reference, RowScores out) {}

    /** Scores of the rows of one batch, filled by the session. */
    public record RowScores(float[] nll, double[] nllExact, float[] nllBase, double[] kld, float[] pDiff, boolean[] sameTop) {
        public RowScores(int rows) {
            this(new float[rows], new double[rows], new float[rows], new double[rows], new float[rows], new boolean[rows]);
        }
    }
}
