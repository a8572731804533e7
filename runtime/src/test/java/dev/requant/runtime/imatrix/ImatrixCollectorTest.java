package dev.requant.runtime.imatrix;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.requant.formats.imatrix.Imatrix;
import dev.requant.formats.imatrix.ImatrixAccumulator;
import dev.requant.runtime.ForwardBatch;
import dev.requant.runtime.ForwardSession;
import dev.requant.runtime.SessionSpec;
import dev.requant.formats.model.GemmaConfig;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.Test;

/** The collection loop: batches, BOS, collected rows, llama-imatrix's save schedule, resuming. */
class ImatrixCollectorTest {
    /** Adds each batch's tokens as one-column rows of one weight, and remembers what it was given. */
    static class FakeBackend implements ForwardSession {
        final ImatrixAccumulator acc;
        final List<int[]> batches = new ArrayList<>();

        FakeBackend(ImatrixAccumulator acc) { this.acc = acc; }

        @Override public GemmaConfig config() { throw new UnsupportedOperationException(); }

        @Override public String description() { return "fake"; }

        @Override public SessionSpec spec() { return SessionSpec.imatrix(acc.chunkSize(), 1, acc, false, null); }

        @Override
        public void run(ForwardBatch b) {
            int[] tokens = b.tokens(), rows = b.collectedRows();
            batches.add(java.util.Arrays.copyOf(tokens, b.sequences() * acc.chunkSize()));
            for (int i = 0; i < rows.length; i += 2) {
                float[] x = new float[rows[i + 1] - rows[i]];
                for (int r = 0; r < x.length; r++) x[r] = tokens[rows[i] + r];
                acc.addDense("blk.0.ffn_down.weight", x, x.length, 1);
            }
        }

        @Override public int lastChunk() { return acc.lastChunk(); }

        @Override public Imatrix collected(String dataset) { return acc.snapshot(dataset); }

        @Override public void close() {}
    }

    record Save(int chunkCount, int atChunk) {}

    static List<Save> run(ImatrixSettings s, int nTokens, int start, FakeBackend b) throws Exception {
        int[] tokens = new int[nTokens];
        for (int i = 0; i < nTokens; i++) tokens[i] = 10 + i % 7;
        List<Save> saves = new ArrayList<>();
        ImatrixCollector.run(tokens, 2, ChunkPlan.of(nTokens, s), b, start, "text.txt",
                (im, at) -> saves.add(new Save(im.chunkCount(), at)), null);
        return saves;
    }

    @Test
    void savesWhenAMultipleIsCrossedAsLlamaImatrixDoes() throws Exception {
        // 8 chunks per batch, output every 10, snapshots every 16, 40 chunks: batches end at 8, 16, 24, 32, 40.
        // out: (m % 10) / 8 == 0 at 16, 24, 32; at: (m % 16) / 8 == 0 at 16, 32; then the final save at 40.
        ImatrixSettings s = new ImatrixSettings(16, 128, 512, 40, 0, false, 10, 16);
        FakeBackend b = new FakeBackend(new ImatrixAccumulator(16));
        assertThat(run(s, 40 * 16 + 5, 0, b)).containsExactly(new Save(16, 0), new Save(16, 16), new Save(24, 0),
                new Save(32, 0), new Save(32, 32), new Save(40, 0));
        assertThat(b.batches).hasSize(5);
        assertThat(b.batches.get(0)[0]).isEqualTo(2);
        assertThat(b.batches.get(0)[16]).isEqualTo(2);
        assertThat(b.acc.snapshot(null).entry("blk.0.ffn_down.weight").orElseThrow().counts()).containsExactly(640L);
    }

    @Test
    void aFailedBackgroundSaveFailsTheRun() {
        // periodic saves are written on a background thread: a failure there is the run's, with its own message
        ImatrixSettings s = new ImatrixSettings(16, 128, 512, 40, 0, false, 10, 16);
        FakeBackend b = new FakeBackend(new ImatrixAccumulator(16));
        int[] tokens = new int[40 * 16 + 5];
        assertThatThrownBy(() -> ImatrixCollector.run(tokens, 2, ChunkPlan.of(tokens.length, s), b, 0, "text.txt", (im, at) -> {
            throw new java.io.IOException("disk full at chunk " + im.chunkCount());
        }, null)).isInstanceOf(java.io.IOException.class).hasMessage("disk full at chunk 16");
    }

    @Test
    void aFailingRunLetsTheSaveInProgressFinishBeforeItReturns() {
        // the backend fails on the batch after the first periodic save, which is slow: run must not return before it
        ImatrixSettings s = new ImatrixSettings(16, 128, 512, 40, 0, false, 10, 16);
        FakeBackend b = new FakeBackend(new ImatrixAccumulator(16)) {
            @Override
            public void run(ForwardBatch batch) {
                if (batches.size() == 2) throw new IllegalStateException("batch 3 failed");
                super.run(batch);
            }
        };
        int[] tokens = new int[40 * 16 + 5];
        java.util.concurrent.atomic.AtomicBoolean written = new java.util.concurrent.atomic.AtomicBoolean();
        assertThatThrownBy(() -> ImatrixCollector.run(tokens, 2, ChunkPlan.of(tokens.length, s), b, 0, "text.txt", (im, at) -> {
            try {
                Thread.sleep(300);
            } catch (InterruptedException e) {
                throw new java.io.InterruptedIOException();
            }
            written.set(true);
        }, null)).hasMessage("batch 3 failed");
        assertThat(written).isTrue();
    }

    @Test
    void theLastBatchWritesItsSnapshotWithTheFinalState() throws Exception {
        ImatrixSettings s = new ImatrixSettings(16, 32, 512, 6, 0, false, 10, 3);
        // batches of 2 end at 2, 4, 6: at (m % 3) / 2 == 0 at 4 (4 % 3 = 1) and 6; output only at the end
        assertThat(run(s, 200, 0, new FakeBackend(new ImatrixAccumulator(16))))
                .containsExactly(new Save(4, 4), new Save(6, 0), new Save(6, 6));
    }

    @Test
    void resumingRunsOnlyTheRemainingChunks() throws Exception {
        ImatrixSettings s = new ImatrixSettings(16, 32, 512, 6, 0, false, 10, 0);
        FakeBackend full = new FakeBackend(new ImatrixAccumulator(16));
        run(s, 200, 0, full);
        ImatrixAccumulator partial = new ImatrixAccumulator(16);
        FakeBackend first = new FakeBackend(partial);
        run(s.withMaxChunks(3), 200, 0, first);
        ImatrixAccumulator resumed = new ImatrixAccumulator(16);
        resumed.load(partial.snapshot(null));
        FakeBackend rest = new FakeBackend(resumed);
        run(s, 200, 3, rest);
        assertThat(rest.batches).hasSize(2); // chunks 3-4, then 5
        assertThat(resumed.snapshot("text.txt")).isEqualTo(full.acc.snapshot("text.txt"));
        assertThatThrownBy(() -> run(s, 200, 7, new FakeBackend(new ImatrixAccumulator(16))))
                .hasMessageContaining("holds 7 chunks");
    }
}
