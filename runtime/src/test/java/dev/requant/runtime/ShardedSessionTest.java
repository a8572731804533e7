package dev.requant.runtime;

import static org.assertj.core.api.Assertions.assertThat;

import dev.requant.converter.ModelSources;
import dev.requant.formats.imatrix.Imatrix;
import dev.requant.formats.imatrix.ImatrixAccumulator;
import dev.requant.formats.imatrix.ImatrixEntry;
import dev.requant.formats.model.ModelSource;
import dev.requant.runtime.cpu.CpuForwardSession;
import dev.requant.runtime.cpu.CpuModel;
import dev.requant.runtime.cpu.CpuThreads;
import dev.requant.runtime.imatrix.ChunkPlan;
import dev.requant.runtime.imatrix.ImatrixCollector;
import dev.requant.runtime.imatrix.ImatrixSettings;
import dev.requant.formats.model.GemmaConfig;
import dev.requant.runtime.model.GemmaWeights;
import dev.requant.testmodels.Golden;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.SplittableRandom;
import org.junit.jupiter.api.Test;

/** Chunks split over N sessions, merged as one session's result (N CPU sessions standing in for N devices). */
class ShardedSessionTest {
    @Test
    void splitIsContiguousAndEven() {
        assertThat(ShardedSession.split(10, 3)).containsExactly(0, 4, 7, 10);
        assertThat(ShardedSession.split(2, 3)).containsExactly(0, 1, 2, 2);
        assertThat(ShardedSession.rebase(new int[] {0, 100, 150, 400}, 128, 384)).containsExactly(22, 256);
    }

    private static int[] tokens(int n, int vocab) {
        SplittableRandom r = new SplittableRandom(4);
        int[] t = new int[n];
        for (int i = 0; i < n; i++) t[i] = r.nextInt(vocab);
        return t;
    }

    @Test
    void imatrixOverThreeShardsEqualsOneSession() throws Exception {
        ImatrixSettings s = new ImatrixSettings(128, 512, 512, 8, 0, false, 10, 0);
        try (ModelSource src = ModelSources.open(Golden.hf("gemma3-tiny")); CpuThreads pool = new CpuThreads(2)) {
            GemmaConfig c = GemmaConfig.of(src);
            GemmaWeights w = GemmaWeights.load(src, c);
            int[] tokens = tokens(8 * 128 + 1, c.nVocab());
            Imatrix one;
            try (ForwardSession b = new CpuForwardSession(new CpuModel(c, w, pool, false, true),
                    SessionSpec.imatrix(128, 4, new ImatrixAccumulator(128), false, null), true)) {
                one = ImatrixCollector.run(tokens, 2, ChunkPlan.of(tokens.length, s), b, 0, "t", (im, at) -> {}, null).imatrix();
            }
            List<ForwardSession> shards = new ArrayList<>();
            for (int i = 0; i < 3; i++) {
                shards.add(new CpuForwardSession(new CpuModel(c, w, pool, false, true),
                        SessionSpec.imatrix(128, 2, new ImatrixAccumulator(128), false, null), true));
            }
            Imatrix split;
            try (ForwardSession b = new ShardedSession(shards, SessionSpec.imatrix(128, 4, new ImatrixAccumulator(128), false, null), false)) {
                split = ImatrixCollector.run(tokens, 2, ChunkPlan.of(tokens.length, s), b, 0, "t", (im, at) -> {}, null).imatrix();
            }
            assertThat(split.entries().keySet()).containsExactlyElementsOf(one.entries().keySet());
            assertThat(split.chunkCount()).isEqualTo(one.chunkCount()).isEqualTo(8);
            assertThat(split.datasets()).isEqualTo(one.datasets());
            for (ImatrixEntry e : one.entries().values()) {
                ImatrixEntry f = split.entry(e.name()).orElseThrow();
                assertThat(f.counts()).as(e.name()).containsExactly(e.counts());
                for (int j = 0; j < e.sums().length; j++) {
                    // the same squares, added in another order
                    assertThat((double) f.sums()[j]).isCloseTo(e.sums()[j], org.assertj.core.data.Offset.offset(1e-5 * Math.abs(e.sums()[j]) + 1e-12));
                }
            }
        }
    }

    @Test
    void logitsComeBackInBatchOrderAndEqualOneSession() throws Exception {
        try (ModelSource src = ModelSources.open(Golden.hf("gemma3-tiny")); CpuThreads pool = new CpuThreads(2)) {
            GemmaConfig c = GemmaConfig.of(src);
            GemmaWeights w = GemmaWeights.load(src, c);
            int n = 32, seqs = 5;
            int[] tokens = tokens(seqs * n, c.nVocab());
            List<String> oneOrder = new ArrayList<>(), splitOrder = new ArrayList<>();
            List<float[]> oneRows = new ArrayList<>(), splitRows = new ArrayList<>();
            try (ForwardSession one = new CpuForwardSession(new CpuModel(c, w, pool, false, true), SessionSpec.eval(n, seqs, n, null), true)) {
                one.run(ForwardBatch.logits(tokens, seqs, 16, 31, (q, p, l, off) -> {
                    oneOrder.add(q + ":" + p);
                    oneRows.add(Arrays.copyOfRange(l, off, off + c.nVocab()));
                }));
            }
            List<ForwardSession> shards = new ArrayList<>();
            for (int i = 0; i < 2; i++) shards.add(new CpuForwardSession(new CpuModel(c, w, pool, false, true), SessionSpec.eval(n, 3, n, null), true));
            try (ForwardSession split = new ShardedSession(shards, SessionSpec.eval(n, seqs, n, null), false)) {
                split.run(ForwardBatch.logits(tokens, seqs, 16, 31, (q, p, l, off) -> {
                    splitOrder.add(q + ":" + p);
                    splitRows.add(Arrays.copyOfRange(l, off, off + c.nVocab()));
                }));
            }
            assertThat(splitOrder).isEqualTo(oneOrder).hasSize(seqs * 15);
            for (int i = 0; i < oneRows.size(); i++) assertThat(splitRows.get(i)).as("row %d", i).isEqualTo(oneRows.get(i));
        }
    }

    /** Scores each row by (its sequence's first token, position, target): checks the row mapping of scored batches. */
    private static final class Labeller implements ForwardSession {
        final SessionSpec spec;
        final List<Integer> basesSeen = new ArrayList<>();

        Labeller(SessionSpec spec) { this.spec = spec; }

        public GemmaConfig config() { return null; }
        public String description() { return "labeller"; }
        public SessionSpec spec() { return spec; }
        public boolean scoresOnDevice() { return true; }
        public int lastChunk() { return 0; }
        public Imatrix collected(String d) { return null; }
        public void close() {}

        record Base(int rows, int id) implements ScoreBase {
            public void close() {}
        }

        public ScoreBase newScoreBase(int rows) { return new Base(rows, System.identityHashCode(this)); }

        public void run(ForwardBatch b) {
            basesSeen.add(((Base) b.scoring().base()).id());
            int n = spec.sequenceLength();
            for (int q = 0; q < b.sequences(); q++) {
                for (int r = 0; r < b.outRows(); r++) {
                    int i = q * b.outRows() + r;
                    b.scoring().out().nll()[i] = b.tokens()[q * n] * 1000 + b.outFrom() + r;
                    b.scoring().out().kld()[i] = b.scoring().targets()[i];
                }
            }
        }
    }

    @Test
    void scoredRowsKeepTheirPlaceAndEachShardUsesItsOwnBase() {
        int n = 8, seqs = 7, rows = 3;
        List<ForwardSession> shards = List.of(new Labeller(SessionSpec.eval(n, 3, n, null)), new Labeller(SessionSpec.eval(n, 3, n, null)),
                new Labeller(SessionSpec.eval(n, 3, n, null)));
        try (ShardedSession s = new ShardedSession(shards, SessionSpec.eval(n, seqs, n, null), true)) {
            int[] tokens = new int[seqs * n];
            for (int q = 0; q < seqs; q++) tokens[q * n] = q + 1;
            int[] targets = new int[seqs * rows];
            for (int i = 0; i < targets.length; i++) targets[i] = 500 + i;
            ForwardBatch.RowScores out = new ForwardBatch.RowScores(seqs * rows);
            try (ForwardSession.ScoreBase base = s.newScoreBase(seqs * rows)) {
                s.run(ForwardBatch.scored(tokens, seqs, 4, 4 + rows, new ForwardBatch.Scoring(targets, base, true, out)));
            }
            for (int q = 0; q < seqs; q++) {
                for (int r = 0; r < rows; r++) {
                    assertThat(out.nll()[q * rows + r]).isEqualTo((q + 1) * 1000 + 4 + r);
                    assertThat(out.kld()[q * rows + r]).isEqualTo(500 + q * rows + r);
                }
            }
            for (ForwardSession sh : shards) {
                Labeller l = (Labeller) sh;
                assertThat(l.basesSeen).containsExactly(System.identityHashCode(l));
            }
        }
    }
}
