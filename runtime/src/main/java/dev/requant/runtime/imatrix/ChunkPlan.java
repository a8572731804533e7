package dev.requant.runtime.imatrix;

import java.util.Arrays;

/**
 * How llama-imatrix cuts a token stream into chunks and batches ({@code compute_imatrix}, tools/imatrix/imatrix.cpp):
 * drop the first {@code --chunk} chunks, require at least two chunks' worth of tokens, take
 * {@code n_chunk = min(--chunks, tokens / n_ctx)} chunks, replace each chunk's first token by BOS, and evaluate
 * {@link ImatrixSettings#nSeq()} chunks per batch from an empty cache.
 *
 * <p>A batch's rows are sequence-major (chunk 0's tokens, then chunk 1's...). {@link #collectedRows} says which of them
 * llama.cpp's collector sees: the logical batch is evaluated in ubatches of consecutive rows, and a ubatch of fewer
 * than 16 rows is skipped.
 */
public final class ChunkPlan {
    private final ImatrixSettings settings;
    private final int firstToken;
    private final int nChunk;

    private ChunkPlan(ImatrixSettings settings, int firstToken, int nChunk) {
        this.settings = settings;
        this.firstToken = firstToken;
        this.nChunk = nChunk;
    }

    /**
     * The plan for a text of {@code nTokens} tokens.
     *
     * @throws IllegalArgumentException with llama-imatrix's reasons when the text is too short
     */
    public static ChunkPlan of(int nTokens, ImatrixSettings s) {
        int nCtx = s.nCtx();
        int first = 0;
        if (s.skipChunks() > 0) {
            if ((long) (s.skipChunks() + 2) * nCtx >= nTokens) {
                throw new IllegalArgumentException("there will be not enough tokens left after removing " + s.skipChunks()
                        + " chunks: the text has " + nTokens + " tokens, --chunk " + s.skipChunks() + " with -c " + nCtx
                        + " needs more than " + (long) (s.skipChunks() + 2) * nCtx);
            }
            first = s.skipChunks() * nCtx;
        }
        int left = nTokens - first;
        if (left < 2 * nCtx) {
            throw new IllegalArgumentException("the text tokenizes to only " + left + " tokens; a chunk size of " + nCtx
                    + " needs at least " + 2 * nCtx + " (as llama-imatrix requires)");
        }
        int max = left / nCtx;
        int n = s.maxChunks() < 0 ? max : Math.min(s.maxChunks(), max);
        return new ChunkPlan(s, first, n);
    }

    public ImatrixSettings settings() { return settings; }

    /** Chunks to evaluate. */
    public int chunks() { return nChunk; }

    /** Chunks per batch. */
    public int nSeq() { return settings.nSeq(); }

    /** Index of the first token of chunk 0 in the full token stream ({@code --chunk * n_ctx}). */
    public int firstToken() { return firstToken; }

    /** Tokens evaluated in all: {@code chunks * n_ctx}. */
    public long tokens() { return (long) nChunk * settings.nCtx(); }

    /**
     * Copies chunks {@code [chunk, chunk + n)} into {@code dst} (sequence-major, {@code n * n_ctx} tokens), each
     * with its first token replaced by {@code bos} when {@code bos >= 0}.
     */
    public void batchTokens(int[] all, int chunk, int n, int bos, int[] dst) {
        int c = settings.nCtx();
        for (int s = 0; s < n; s++) {
            System.arraycopy(all, firstToken + (chunk + s) * c, dst, s * c, c);
            if (bos >= 0) dst[s * c] = bos;
        }
    }

    /**
     * The rows of a batch of {@code nSeqBatch} chunks that llama-imatrix collects, as {@code [start, end)} pairs in
     * ascending order. With {@code n_ctx <= n_batch} the batch is one decode of {@code nSeqBatch * n_ctx} rows; with a
     * larger chunk each chunk is decoded {@code n_batch} tokens at a time. Each decode runs in ubatches of
     * {@code n_ubatch} consecutive rows, and one of fewer than 16 rows is not collected.
     */
    public int[] collectedRows(int nSeqBatch) {
        int c = settings.nCtx();
        int b = settings.effectiveBatch();
        int ub = settings.effectiveUbatch();
        int[] out = new int[16];
        int n = 0;
        // the decodes: one of every row when a batch holds whole chunks, else n_batch tokens of a chunk at a time
        int[] decodes = new int[0];
        if (c <= b) {
            decodes = new int[] {0, nSeqBatch * c};
        } else {
            for (int s = 0; s < nSeqBatch; s++) {
                for (int j = 0; j < c; j += b) {
                    decodes = Arrays.copyOf(decodes, decodes.length + 2);
                    decodes[decodes.length - 2] = s * c + j;
                    decodes[decodes.length - 1] = s * c + Math.min(c, j + b);
                }
            }
        }
        for (int d = 0; d < decodes.length; d += 2) {
            for (int u0 = decodes[d]; u0 < decodes[d + 1]; u0 += ub) {
                int u1 = Math.min(decodes[d + 1], u0 + ub);
                if (u1 - u0 < ImatrixSettings.MIN_ROWS) continue;
                if (n > 0 && out[n - 1] == u0) {
                    out[n - 1] = u1; // adjacent: one range
                } else {
                    if (n + 2 > out.length) out = Arrays.copyOf(out, out.length * 2);
                    out[n++] = u0;
                    out[n++] = u1;
                }
            }
        }
        return Arrays.copyOf(out, n);
    }

    /** Rows that {@link #collectedRows} covers. */
    public static int rowCount(int[] ranges) {
        int n = 0;
        for (int i = 0; i < ranges.length; i += 2) n += ranges[i + 1] - ranges[i];
        return n;
    }
}
