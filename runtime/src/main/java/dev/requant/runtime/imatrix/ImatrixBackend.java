package dev.requant.runtime.imatrix;

import dev.requant.formats.imatrix.Imatrix;

/**
 * A forward pass that collects llama-imatrix's statistics: it runs batches of chunks and keeps, per weight, the Σx²
 * of the inputs of its matrix multiplications and the number of rows summed, on top of the state it was created
 * with (an empty accumulator, or a file being resumed). {@link CpuImatrixBackend} runs on the CPU; the CUDA one keeps
 * the sums on the GPU and copies them to the host only for {@link #snapshot}.
 */
public interface ImatrixBackend extends AutoCloseable {
    /** Where it runs, for logs and reports, e.g. "cpu, 2 threads". */
    String description();

    /**
     * Runs one batch: {@code nSeq} chunks of {@code nCtx} tokens, sequence-major in {@code tokens} (each chunk's
     * first token already BOS), each from an empty cache at positions 0..nCtx-1, collecting the batch rows that
     * {@code collectedRows} lists ({@link ChunkPlan#collectedRows} pairs). Returns when the work is done.
     */
    void run(int[] tokens, int nSeq, int nCtx, int[] collectedRows);

    /** llama-imatrix's m_last_chunk over everything held: the largest count divided by the chunk size. */
    int lastChunk();

    /** Everything held so far as save_imatrix writes it, with {@code dataset} appended to the datasets (null: none). */
    Imatrix snapshot(String dataset);

    @Override
    void close();
}
