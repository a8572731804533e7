package dev.requant.runtime;

import dev.requant.formats.imatrix.ImatrixAccumulator;

/**
 * What a {@link ForwardSession} is opened for.
 *
 * @param sequenceLength tokens per sequence (imatrix and eval: the chunk size {@code -c})
 * @param maxSequences sequences per batch at most (sizes the GPU's buffers; a CPU session runs any number, one after
 *     another)
 * @param logitsRows positions per sequence whose logits a batch may ask for (0: none; sizes the GPU's LM head buffers)
 * @param collectInto the imatrix state that collected Σx² are added to (a fresh accumulator or a resumed file), or
 *     null when nothing is collected
 * @param processOutput collect the LM head's input too (llama-imatrix's {@code --process-output})
 * @param gemmInputs how a GPU session feeds float32 activations to its bf16 GEMMs (ignored on the CPU)
 * @param gpuWeights where a GPU session keeps the weights (ignored on the CPU)
 */
public record SessionSpec(int sequenceLength, int maxSequences, int logitsRows, ImatrixAccumulator collectInto,
                          boolean processOutput, GemmInputs gemmInputs, GpuWeights gpuWeights) {
    public SessionSpec {
        if (sequenceLength < 1) throw new IllegalArgumentException("sequence length must be positive, got " + sequenceLength);
        if (maxSequences < 1) throw new IllegalArgumentException("sequences per batch must be positive, got " + maxSequences);
        if (logitsRows < 0 || logitsRows > sequenceLength) {
            throw new IllegalArgumentException("logits rows " + logitsRows + " outside 0.." + sequenceLength);
        }
        if (gemmInputs == null) gemmInputs = GemmInputs.SPLIT_BF16;
        if (gpuWeights == null) gpuWeights = GpuWeights.AUTO;
    }

    /** With the GPU weights chosen automatically. */
    public SessionSpec(int sequenceLength, int maxSequences, int logitsRows, ImatrixAccumulator collectInto,
                       boolean processOutput, GemmInputs gemmInputs) {
        this(sequenceLength, maxSequences, logitsRows, collectInto, processOutput, gemmInputs, GpuWeights.AUTO);
    }

    /** Imatrix collection into {@code acc}: chunks of {@code nCtx}, {@code nSeq} per batch, no logits. */
    public static SessionSpec imatrix(int nCtx, int nSeq, ImatrixAccumulator acc, boolean processOutput, GemmInputs inputs) {
        return new SessionSpec(nCtx, nSeq, 0, acc, processOutput, inputs);
    }

    /** Evaluation: chunks of {@code nCtx}, {@code nSeq} per batch, logits of up to {@code rows} positions each. */
    public static SessionSpec eval(int nCtx, int nSeq, int rows, GemmInputs inputs) {
        return new SessionSpec(nCtx, nSeq, rows, null, false, inputs);
    }

    public boolean collects() { return collectInto != null; }

    /** The same with {@code n} sequences per batch (a sharded session's whole batch). */
    public SessionSpec withSequences(int n) {
        return new SessionSpec(sequenceLength, n, logitsRows, collectInto, processOutput, gemmInputs, gpuWeights);
    }

    /** The same with the weights placed as {@code g} on a GPU. */
    public SessionSpec withGpuWeights(GpuWeights g) {
        return new SessionSpec(sequenceLength, maxSequences, logitsRows, collectInto, processOutput, gemmInputs, g);
    }
}
