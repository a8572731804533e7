package dev.requant.runtime.imatrix;

/**
 * The options of llama-imatrix that decide what is collected and when it is saved (common_params as
 * tools/imatrix/imatrix.cpp reads them; llamacpp-formats.md §5.1, §5.6).
 *
 * @param nCtx tokens per chunk ({@code -c}); also the imatrix chunk size
 * @param nBatch logical batch ({@code -b}): {@code max(1, nBatch / nCtx)} chunks run together as separate sequences
 * @param nUbatch physical batch ({@code -ub}): a logical batch is evaluated in pieces of this many rows, and a piece of
 *     fewer than 16 rows is not collected (llama-imatrix's {@code src1->ne[1] < 16} rule)
 * @param maxChunks at most this many chunks ({@code --chunks}; -1: all the text gives)
 * @param skipChunks chunks dropped from the start of the text ({@code --chunk})
 * @param processOutput collect {@code output.weight} too ({@code --process-output})
 * @param outputFrequency rewrite the output every this many chunks ({@code --output-frequency}, default 10)
 * @param saveFrequency also write {@code <out>.at_<chunk>} every this many chunks ({@code --save-frequency}; 0: never)
 */
public record ImatrixSettings(int nCtx, int nBatch, int nUbatch, int maxChunks, int skipChunks, boolean processOutput,
                              int outputFrequency, int saveFrequency) {
    /** llama-imatrix rule: batches of fewer rows than this are not collected. */
    public static final int MIN_ROWS = 16;

    public ImatrixSettings {
        if (nCtx < 1) throw new IllegalArgumentException("the chunk size (-c) must be positive, got " + nCtx);
        if (nBatch < 1) throw new IllegalArgumentException("the batch size (-b) must be positive, got " + nBatch);
        if (nUbatch < 1) throw new IllegalArgumentException("the ubatch size (-ub) must be positive, got " + nUbatch);
        if (maxChunks == 0 || maxChunks < -1) throw new IllegalArgumentException("--chunks must be positive, got " + maxChunks);
        if (skipChunks < 0) throw new IllegalArgumentException("--chunk must not be negative, got " + skipChunks);
        // llama.cpp would divide by zero here
        if (outputFrequency < 1) throw new IllegalArgumentException("--output-frequency must be positive, got " + outputFrequency);
        if (saveFrequency < 0) throw new IllegalArgumentException("--save-frequency must not be negative, got " + saveFrequency);
    }

    /** llama-imatrix's defaults: -c 512 -b 2048 -ub 512, all chunks, output every 10 chunks. */
    public static ImatrixSettings defaults() {
        return new ImatrixSettings(512, 2048, 512, -1, 0, false, 10, 0);
    }

    /** Chunks evaluated together as separate sequences: {@code max(1, n_batch / n_ctx)}. */
    public int nSeq() { return Math.max(1, nBatch / nCtx); }

    /** The logical batch after llama-imatrix's {@code n_batch = min(n_batch, n_seq * n_ctx)}. */
    public int effectiveBatch() { return Math.min(nBatch, nSeq() * nCtx); }

    /** The physical batch: {@code min(n_ubatch, n_batch)} as llama_context sets it. */
    public int effectiveUbatch() { return Math.min(nUbatch, effectiveBatch()); }

    public ImatrixSettings withMaxChunks(int n) {
        return new ImatrixSettings(nCtx, nBatch, nUbatch, n, skipChunks, processOutput, outputFrequency, saveFrequency);
    }
}
