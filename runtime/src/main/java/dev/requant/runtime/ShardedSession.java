package dev.requant.runtime;

import dev.requant.formats.imatrix.Imatrix;
import dev.requant.formats.imatrix.ImatrixAccumulator;
import dev.requant.formats.model.GemmaConfig;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;

/**
 * One {@link ForwardSession} over several (one per device, or several on one device): each batch's sequences are cut
 * into contiguous shards, shard {@code i} runs on session {@code i}, and the outputs are merged so that the result is
 * a one-session run's:
 * <ul>
 *   <li>scores: each shard scores its own rows against its own part of the base distributions; the rows come back in
 *       batch order. Every per-token number is computed from that token's logits alone, so the statistics equal a
 *       one-device run's exactly wherever the device computes a row independently of the others in its batch (the
 *       CPU; on a GPU, up to the GEMM's choice of kernel for the smaller batch);</li>
 *   <li>logits to a host sink: the shards run one after another, so the sink sees the rows in batch order;</li>
 *   <li>imatrix: each shard adds to its own accumulator (the first holds the resumed state); {@link #collected}
 *       adds them up. Counts are exact; the float sums are added in another order than one device would (not
 *       bit-identical).</li>
 * </ul>
 * Scored and collecting batches run the shards on parallel threads when {@code parallel} (sessions on distinct
 * devices); CPU sessions sharing a thread team must run one after another.
 */
public final class ShardedSession implements ForwardSession {
    private final List<ForwardSession> shards;
    private final SessionSpec spec;
    private final boolean parallel;
    private final ExecutorService pool;

    /**
     * @param shards sessions of the same model and sequence length, each opened for {@code spec.maxSequences()} /
     *     {@code shards.size()} sequences (rounded up) and, when collecting, with its own accumulator (the first one's
     *     holding the resumed state); closed with this session
     */
    public ShardedSession(List<ForwardSession> shards, SessionSpec spec, boolean parallel) {
        if (shards.isEmpty()) throw new IllegalArgumentException("no sessions to shard over");
        for (ForwardSession s : shards) {
            if (s.spec().sequenceLength() != spec.sequenceLength()) {
                throw new IllegalArgumentException("shard " + s.description() + " runs sequences of " + s.spec().sequenceLength()
                        + ", not " + spec.sequenceLength());
            }
        }
        this.shards = List.copyOf(shards);
        this.spec = spec;
        this.parallel = parallel && shards.size() > 1;
        this.pool = this.parallel ? Executors.newFixedThreadPool(shards.size(), r -> {
            Thread t = new Thread(r, "shard");
            t.setDaemon(true);
            return t;
        }) : null;
    }

    /** Sequences per shard for a batch of {@code n}: as even as possible, the first shards one more. */
    static int[] split(int n, int shards) {
        int[] bounds = new int[shards + 1];
        for (int i = 0; i < shards; i++) bounds[i + 1] = bounds[i] + n / shards + (i < n % shards ? 1 : 0);
        return bounds;
    }

    @Override
    public GemmaConfig config() { return shards.getFirst().config(); }

    @Override
    public String description() {
        return shards.size() + " shards: " + String.join("; ", shards.stream().map(ForwardSession::description).toList());
    }

    @Override
    public SessionSpec spec() { return spec; }

    @Override
    public boolean scoresOnDevice() { return shards.stream().allMatch(ForwardSession::scoresOnDevice); }

    @Override
    public boolean replaceMatrices(java.util.Map<String, dev.requant.runtime.model.WeightTensor> replacements) {
        return onEveryShard(s -> s.replaceMatrices(replacements), "a replacement");
    }

    @Override
    public boolean useW4a4(java.util.Map<String, Float> inputScales) {
        return onEveryShard(s -> s.useW4a4(inputScales), "W4A4");
    }

    /**
     * A change made on every shard, or on none: shards are sessions of one kind on one model, so the first one's
     * refusal says for all; a later one's is a bug.
     */
    private boolean onEveryShard(java.util.function.Predicate<ForwardSession> change, String what) {
        for (int i = 0; i < shards.size(); i++) {
            if (!change.test(shards.get(i))) {
                if (i == 0) return false;
                throw new IllegalStateException("shard " + i + " refused " + what + " that shard 0 took");
            }
        }
        return true;
    }

    /** The shards' counts added: each ran its own share of the batches. */
    @Override
    public long[] w4a4Calls() {
        long[] sum = new long[2];
        for (ForwardSession s : shards) {
            long[] c = s.w4a4Calls();
            sum[0] += c[0];
            sum[1] += c[1];
        }
        return sum;
    }

    @Override
    public ScoreBase newScoreBase(int rows) {
        List<ScoreBase> parts = new ArrayList<>();
        for (ForwardSession s : shards) parts.add(s.newScoreBase(rows));
        return new Bases(parts, rows);
    }

    /** One base per shard, each as large as the whole (a shard may be given every row of a small batch). */
    private record Bases(List<ScoreBase> parts, int rows) implements ScoreBase {
        @Override
        public void close() {
            for (ScoreBase b : parts) b.close();
        }
    }

    @Override
    public void run(ForwardBatch b) {
        int n = spec.sequenceLength();
        int[] bounds = split(b.sequences(), shards.size());
        List<Runnable> work = new ArrayList<>();
        for (int i = 0; i < shards.size(); i++) {
            int s0 = bounds[i], s1 = bounds[i + 1];
            if (s1 == s0) continue;
            ForwardSession shard = shards.get(i);
            int[] tokens = Arrays.copyOfRange(b.tokens(), s0 * n, s1 * n);
            int[] rows = b.collectedRows() == null ? null : rebase(b.collectedRows(), s0 * n, s1 * n);
            ForwardBatch part;
            if (b.scoring() != null) {
                ForwardBatch.Scoring sc = b.scoring();
                int r0 = s0 * b.outRows(), r1 = s1 * b.outRows();
                ForwardBatch.RowScores out = new ForwardBatch.RowScores(r1 - r0);
                ScoreBase base = ((Bases) sc.base()).parts().get(i);
                part = new ForwardBatch(tokens, s1 - s0, rows, b.outFrom(), b.outTo(), null,
                        new ForwardBatch.Scoring(Arrays.copyOfRange(sc.targets(), r0, r1), base, sc.reference(), out));
                work.add(() -> {
                    shard.run(part);
                    copy(out, sc.out(), r0, r1 - r0);
                });
            } else if (b.logits() != null) {
                LogitsSink sink = b.logits();
                part = new ForwardBatch(tokens, s1 - s0, rows, b.outFrom(), b.outTo(),
                        (seq, pos, l, off) -> sink.accept(s0 + seq, pos, l, off), null);
                work.add(() -> shard.run(part));
            } else {
                part = new ForwardBatch(tokens, s1 - s0, rows, b.outFrom(), b.outTo(), null, null);
                work.add(() -> shard.run(part));
            }
        }
        if (pool == null || b.logits() != null) {
            for (Runnable r : work) r.run(); // in order: a host sink sees the rows in batch order
            return;
        }
        List<Future<?>> running = new ArrayList<>();
        for (Runnable r : work) running.add(pool.submit(r));
        try {
            for (Future<?> f : running) f.get();
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new IllegalStateException("interrupted while the shards ran", e);
        } catch (java.util.concurrent.ExecutionException e) {
            if (e.getCause() instanceof RuntimeException re) throw re;
            if (e.getCause() instanceof Error err) throw err;
            throw new IllegalStateException(e.getCause());
        }
    }

    /** The ranges of {@code [lo, hi)} in {@code rows}, shifted to start at 0. */
    static int[] rebase(int[] rows, int lo, int hi) {
        int[] out = new int[rows.length];
        int k = 0;
        for (int i = 0; i < rows.length; i += 2) {
            int a = Math.max(lo, rows[i]), c = Math.min(hi, rows[i + 1]);
            if (a < c) {
                out[k++] = a - lo;
                out[k++] = c - lo;
            }
        }
        return Arrays.copyOf(out, k);
    }

    private static void copy(ForwardBatch.RowScores from, ForwardBatch.RowScores to, int at, int n) {
        System.arraycopy(from.nll(), 0, to.nll(), at, n);
        System.arraycopy(from.nllExact(), 0, to.nllExact(), at, n);
        System.arraycopy(from.nllBase(), 0, to.nllBase(), at, n);
        System.arraycopy(from.kld(), 0, to.kld(), at, n);
        System.arraycopy(from.pDiff(), 0, to.pDiff(), at, n);
        System.arraycopy(from.sameTop(), 0, to.sameTop(), at, n);
    }

    @Override
    public int lastChunk() {
        return spec.collects() ? merged(null).chunkCount() : 0;
    }

    @Override
    public Imatrix collected(String dataset) {
        if (!spec.collects()) throw new IllegalStateException("this session was not opened to collect");
        return merged(dataset);
    }

    /** Every shard's state added up (the first shard's holds the resumed state, the others start empty). */
    private Imatrix merged(String dataset) {
        ImatrixAccumulator acc = new ImatrixAccumulator(spec.sequenceLength());
        Imatrix first = shards.getFirst().collected(null);
        acc.load(first);
        for (int i = 1; i < shards.size(); i++) {
            Imatrix part = shards.get(i).collected(null);
            acc.load(Imatrix.raw(part.entries(), List.of(), 0, spec.sequenceLength()));
        }
        return acc.snapshot(dataset);
    }

    @Override
    public long peakDeviceBytes() {
        return shards.stream().mapToLong(ForwardSession::peakDeviceBytes).max().orElse(0);
    }

    @Override
    public void close() {
        if (pool != null) pool.shutdownNow();
        for (ForwardSession s : shards) s.close();
    }
}
