package dev.requant.runtime;

import dev.requant.formats.imatrix.Imatrix;
import dev.requant.formats.model.GemmaConfig;
import dev.requant.runtime.model.WeightTensor;

/**
 * A Gemma model ready to run batches of sequences on one device: the seam between what a command computes
 * (imatrix collection, perplexity and KL-divergence) and where the forward pass runs. {@code runtime.cpu} and
 * {@code runtime.cuda} implement it; {@code runtime.device.Sessions} picks one for {@code --device cpu|cuda|auto}.
 *
 * <p>Every sequence of a batch starts from an empty cache at position 0 and has {@link SessionSpec#sequenceLength()}
 * tokens; batch rows are sequence-major. A batch asks for any of three outputs ({@link ForwardBatch}):
 * <ul>
 *   <li>the Σx² of the inputs of every matrix multiplication over chosen rows, added to the session's collected
 *       state (llama-imatrix's statistics; only for a session opened with {@link SessionSpec#collectInto()});</li>
 *   <li>the logits of a range of positions of every sequence, handed to a host {@link LogitsSink};</li>
 *   <li>per-token scores of those logits ({@link ForwardBatch.Scoring}), computed where the logits are, so that a GPU
 *       session never copies a vocabulary-wide row to the host ({@link #scoresOnDevice()}).</li>
 * </ul>
 * Not thread-safe; one batch at a time.
 */
public interface ForwardSession extends AutoCloseable {
    GemmaConfig config();

    /** Where it runs, for logs and reports, e.g. "cpu, 2 threads" or "cuda, NVIDIA H100 80GB HBM3". */
    String description();

    /** What the session was opened for. */
    SessionSpec spec();

    /** Runs one batch; returns when its outputs are delivered. */
    void run(ForwardBatch batch);

    /** llama-imatrix's m_last_chunk of the collected state: the largest count divided by the chunk size. */
    int lastChunk();

    /** The collected state as save_imatrix writes it, {@code dataset} appended to the datasets (null: none). */
    Imatrix collected(String dataset);

    /**
     * {@link #collected} for a periodic save that runs while the session goes on: what must be read now is read on
     * the caller's thread (a non-finite sum fails here), and the returned supplier builds the same Imatrix later, on
     * any thread, once. A GPU session copies its sums to the host here and leaves the rest (entries, merging with a
     * resumed state: several copies of every sum) to the saving thread.
     */
    default java.util.function.Supplier<Imatrix> collectedLater(String dataset) {
        Imatrix im = collected(dataset);
        return () -> im;
    }

    /**
     * Whether {@link ForwardBatch.Scoring} works here. Sessions that say no deliver logits to a {@link LogitsSink}
     * only, and the caller scores them on the host.
     */
    default boolean scoresOnDevice() { return false; }

    /**
     * Room for the base distributions of {@code rows} scored rows (a reference model's log-probs), to be filled by
     * this session's reference batches and read by the compared models' batches of sessions on the same device.
     *
     * @throws UnsupportedOperationException where {@link #scoresOnDevice()} is false
     */
    default ScoreBase newScoreBase(int rows) {
        throw new UnsupportedOperationException(description() + " scores logits on the host");
    }

    /**
     * Puts other tensors of the same shapes (other quantizations of the same weights, by tensor name) in the place of
     * matrices of the running model, so that the next batches compute as a session opened on
     * {@code weights.replacing(replacements)} would; returns false, having changed nothing, where this session cannot
     * (then open one on the replaced weights). A GPU session converts and uploads only the replaced matrices, where a
     * new session would upload the whole model; the caller puts the old tensors back the same way.
     */
    default boolean replaceMatrices(java.util.Map<String, WeightTensor> replacements) { return false; }

    /**
     * W4A4 from now on (the checkpoint's {@code input_scale} of each weight by name; a weight without one takes a
     * dynamic {@code amax / (6·448)} of each product's input) or no longer ({@code null}): every product with an NVFP4
     * layer matrix takes its input quantized to NVFP4 blocks, as {@code fp4.W4a4MatMul} does on the CPU. Returns false,
     * having changed nothing, where this session cannot.
     */
    default boolean useW4a4(java.util.Map<String, Float> inputScales) { return false; }

    /** The W4A4 products run with a static and with a dynamic input scale since W4A4 was last turned on. */
    default long[] w4a4Calls() { return new long[2]; }

    /** The most device memory this session has held, in bytes (weights, workspace); 0 on the CPU. */
    default long peakDeviceBytes() { return 0; }

    @Override
    void close();

    /** Receives the logits of one scored position; {@code logits[offset .. offset + n_vocab)} is valid during the call. */
    @FunctionalInterface
    interface LogitsSink {
        void accept(int sequence, int position, float[] logits, int offset);
    }

    /** The reference distributions kept on a device between the reference's batch and the compared models' ones. */
    interface ScoreBase extends AutoCloseable {
        int rows();

        @Override
        void close();
    }
}
