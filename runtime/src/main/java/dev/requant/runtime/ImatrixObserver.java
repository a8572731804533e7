package dev.requant.runtime;

import dev.requant.formats.imatrix.ImatrixAccumulator;

/**
 * llama-imatrix's {@code collect_imatrix} callback as an {@link ActivationObserver}: a dense multiplication is
 * collected when its weight name starts with {@code blk.} (or is {@code output.weight} with --process-output; a tied
 * LM head is named {@code token_embd.weight} and is not collected, as in llama.cpp), for the rows of the current
 * batch that a collected ubatch holds ({@code ChunkPlan.collectedRows}); expert multiplications are always collected.
 */
public final class ImatrixObserver implements ActivationObserver {
    private final ImatrixAccumulator acc;
    private final boolean processOutput;
    private int[] collected = new int[0];
    private int rowBase;

    public ImatrixObserver(ImatrixAccumulator acc, boolean processOutput) {
        this.acc = acc;
        this.processOutput = processOutput;
    }

    /** llama-imatrix's name filter for MUL_MAT (imatrix.cpp collect_imatrix, ask phase). */
    public static boolean collects(String weight, boolean processOutput) {
        return weight.startsWith("blk.") || (processOutput && weight.equals("output.weight"));
    }

    /**
     * The batch rows that are collected ({@code [start, end)} pairs) and the batch row of the first row the next
     * calls report (a backend that runs a batch's chunks one at a time moves it from chunk to chunk).
     */
    public void setRows(int[] collectedRows, int rowBase) {
        this.collected = collectedRows;
        this.rowBase = rowBase;
    }

    @Override
    public void onMatMul(String weight, float[] rows, int nRows, int cols) {
        if (!collects(weight, processOutput)) return;
        int lo = rowBase, hi = rowBase + nRows;
        for (int i = 0; i < collected.length; i += 2) {
            int a = Math.max(lo, collected[i]), b = Math.min(hi, collected[i + 1]);
            if (a < b) acc.addDense(weight, rows, (a - rowBase) * cols, b - a, cols);
        }
    }

    @Override
    public void onExpertMatMul(String weight, int expert, int nExperts, float[] rows, int nRows, int cols) {
        acc.addExpertRows(weight, expert, nExperts, rows, 0, nRows, cols);
    }

    @Override
    public boolean observeOutput() { return processOutput; }
}
