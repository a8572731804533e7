package dev.requant.runtime.imatrix;

import dev.requant.formats.imatrix.Imatrix;
import dev.requant.runtime.ForwardBatch;
import dev.requant.runtime.ForwardSession;
import java.io.IOException;

/**
 * llama-imatrix's collection loop ({@code compute_imatrix} and the saving in {@code collect_imatrix},
 * tools/imatrix/imatrix.cpp) over any {@link ForwardSession} opened to collect: batches of {@link ChunkPlan#nSeq()} chunks, then the
 * periodic saves. After a batch raises m_last_chunk (largest count / chunk size) from {@code m} by {@code step}, the
 * output is rewritten if {@code (m % output_frequency) / step == 0} and {@code <out>.at_<m>} is written if
 * {@code save_frequency > 0} and {@code (m % save_frequency) / step == 0}: each time a multiple is crossed. Saves
 * happen between batches, so every saved file is a consistent state that {@code --resume} can continue from.
 *
 * <p>A periodic save is written on a background thread while the next batches run (the state is a snapshot, copied
 * between batches): on a GPU a batch takes a fraction of the time that writing a large imatrix (76 MB for Gemma 4
 * 26B-A4B's experts) takes. One save at a time, in order; a failed save fails the run at the next save or at the end.
 * The final save is written before {@code run} returns, and a failing run waits for a save in progress, so no file is
 * written after {@code run} returns either way.
 */
public final class ImatrixCollector {
    private static final org.slf4j.Logger LOG = org.slf4j.LoggerFactory.getLogger(ImatrixCollector.class);

    private ImatrixCollector() {}

    /** Receives the imatrix to write: to the output ({@code atChunk == 0}) or to {@code <out>.at_<atChunk>}. */
    @FunctionalInterface
    public interface Saver {
        void save(Imatrix imatrix, int atChunk) throws IOException;
    }

    /** Called after each batch with the chunks done so far (resumed ones included) and the tokens of the batch. */
    @FunctionalInterface
    public interface Progress {
        void ranBatch(int chunksDone, int chunksTotal, int tokens, double seconds);
    }

    /**
     * @param chunksRun chunks evaluated by this run (resumed chunks excluded)
     * @param seconds wall time of the batches (loading excluded)
     */
    public record Result(Imatrix imatrix, int chunksRun, long tokensRun, double seconds) {
        public double tokensPerSecond() { return seconds > 0 ? tokensRun / seconds : 0; }
    }

    /**
     * Runs the plan from chunk {@code startChunk} (the chunks a resumed file already holds; 0 for a fresh run) and
     * saves the final imatrix.
     *
     * @param tokens the whole tokenized text
     * @param bos the BOS id that replaces each chunk's first token, or -1 when the vocabulary adds none
     * @param dataset the name recorded in imatrix.datasets (llama-imatrix records its -f argument as given)
     */
    public static Result run(int[] tokens, int bos, ChunkPlan plan, ForwardSession backend, int startChunk, String dataset,
                             Saver saver, Progress progress) throws IOException {
        if (startChunk < 0 || startChunk > plan.chunks()) {
            throw new IllegalArgumentException("the resumed imatrix holds " + startChunk + " chunks, the text gives only "
                    + plan.chunks() + " with these settings");
        }
        ImatrixSettings s = plan.settings();
        int nCtx = s.nCtx();
        int nSeq = plan.nSeq();
        int[] batch = new int[nSeq * nCtx];
        int lastChunk = backend.lastChunk();
        long tokensRun = 0;
        int finalAt = 0;
        long t0 = System.nanoTime();
        java.util.concurrent.ExecutorService writer = java.util.concurrent.Executors.newSingleThreadExecutor(r -> {
            Thread t = new Thread(r, "requant-imatrix-save");
            t.setDaemon(true);
            return t;
        });
        java.util.concurrent.Future<?> pending = null;
        try {
            for (int i = startChunk; i < plan.chunks(); i += nSeq) {
                int n = Math.min(nSeq, plan.chunks() - i);
                plan.batchTokens(tokens, i, n, bos, batch);
                long b0 = System.nanoTime();
                backend.run(ForwardBatch.collect(batch, n, plan.collectedRows(n)));
                tokensRun += (long) n * nCtx;
                if (LOG.isDebugEnabled()) LOG.debug("batch of chunks {}..{}: {} ms", i, i + n - 1, (System.nanoTime() - b0) / 1_000_000);
                if (progress != null) progress.ranBatch(i + n, plan.chunks(), n * nCtx, (System.nanoTime() - b0) / 1e9);
                int now = backend.lastChunk();
                boolean last = i + n >= plan.chunks();
                if (now > lastChunk) {
                    int step = now - lastChunk;
                    lastChunk = now;
                    boolean out = (lastChunk % s.outputFrequency()) / step == 0;
                    boolean at = s.saveFrequency() > 0 && (lastChunk % s.saveFrequency()) / step == 0;
                    if (last) {
                        if (at) finalAt = lastChunk; // written below with the final state
                    } else if (out || at) {
                        // the sums are read now; the entries are built on the saving thread while the next batches run
                        long s0 = System.nanoTime();
                        java.util.function.Supplier<Imatrix> snapshot = backend.collectedLater(dataset);
                        if (LOG.isDebugEnabled()) LOG.debug("snapshot at chunk {}: {} ms", lastChunk, (System.nanoTime() - s0) / 1_000_000);
                        int atChunk = lastChunk;
                        finish(pending);
                        pending = writer.submit(() -> {
                            Imatrix im = snapshot.get();
                            if (out) saver.save(im, 0);
                            if (at) saver.save(im, atChunk);
                            return null;
                        });
                    }
                }
            }
            finish(pending);
            pending = null;
        } finally {
            // a run that fails (or is cancelled) still lets a save in progress finish: nothing is written after run returns
            if (pending != null) awaitQuietly(pending);
            writer.shutdown();
        }
        double seconds = (System.nanoTime() - t0) / 1e9;
        Imatrix result = backend.collected(dataset);
        saver.save(result, 0);
        if (finalAt > 0) saver.save(result, finalAt);
        return new Result(result, (int) (tokensRun / nCtx), tokensRun, seconds);
    }

    /** Waits for a save without failing (a short wait: one file); an interrupt is kept for the caller. */
    private static void awaitQuietly(java.util.concurrent.Future<?> pending) {
        boolean interrupted = false;
        while (true) {
            try {
                pending.get();
                break;
            } catch (InterruptedException e) {
                interrupted = true;
            } catch (java.util.concurrent.ExecutionException | java.util.concurrent.CancellationException e) {
                break; // the run is failing already; its own exception is the one to report
            }
        }
        if (interrupted) Thread.currentThread().interrupt();
    }

    /** Waits for a background save; its failure becomes this thread's. */
    private static void finish(java.util.concurrent.Future<?> pending) throws IOException {
        if (pending == null) return;
        try {
            pending.get();
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new java.io.InterruptedIOException("interrupted while an imatrix save was written");
        } catch (java.util.concurrent.ExecutionException e) {
            Throwable c = e.getCause();
            if (c instanceof IOException io) throw io;
            if (c instanceof RuntimeException re) throw re;
            if (c instanceof Error err) throw err;
            throw new IOException(c);
        }
    }
}
