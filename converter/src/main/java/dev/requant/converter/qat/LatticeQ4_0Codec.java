package dev.requant.converter.qat;

import dev.requant.formats.ggml.BlockCodec;
import dev.requant.formats.ggml.GgmlType;
import java.lang.foreign.MemorySegment;
import java.util.List;
import java.util.concurrent.CopyOnWriteArrayList;

/**
 * Q4_0 written through lattice recovery instead of llama.cpp's max/-8 encoder: same block format, so any consumer of
 * Q4_0 reads it, but a QAT block keeps the codes and scale it was trained on. Usable wherever a {@link BlockCodec}
 * is (thread-safe: one solver per thread); the statistics of everything it encoded accumulate in {@link #stats()}.
 */
public final class LatticeQ4_0Codec implements BlockCodec {
    private final StoredPrecision precision;
    private final ThreadLocal<Worker> workers;
    /** Every thread's counts; merged when asked for, so encoding threads never wait on each other. */
    private final List<LatticeStats> perThread = new CopyOnWriteArrayList<>();

    /** One thread's solver and counts. */
    private record Worker(Q4_0Lattice solver, LatticeStats stats) {}

    public LatticeQ4_0Codec(StoredPrecision precision) {
        this.precision = precision;
        this.workers = ThreadLocal.withInitial(() -> {
            LatticeStats stats = new LatticeStats();
            perThread.add(stats);
            return new Worker(new Q4_0Lattice(precision), stats);
        });
    }

    public StoredPrecision precision() { return precision; }

    @Override
    public GgmlType type() { return GgmlType.Q4_0; }

    @Override
    public void decode(MemorySegment src, long srcOffset, float[] dst, int dstOffset, int n) {
        BlockCodec.of(GgmlType.Q4_0).decode(src, srcOffset, dst, dstOffset, n);
    }

    @Override
    public void encodeRow(float[] src, int srcOffset, int n, float[] importance, MemorySegment dst, long dstOffset) {
        Worker w = workers.get();
        Q4_0Lattice l = w.solver();
        l.startRow();
        for (int b = 0; b < n / Q4_0Lattice.QK; b++) {
            l.solve(src, srcOffset + b * Q4_0Lattice.QK, importance, b * Q4_0Lattice.QK);
            l.writeBlock(dst, dstOffset + (long) b * Q4_0Lattice.BLOCK_BYTES);
            w.stats().add(l);
        }
    }

    /** The least-error fallback uses the importance; exact blocks do not need it. */
    @Override
    public boolean usesImportance() { return true; }

    /**
     * Everything encoded so far, by all threads. Complete once the encoding calls have returned to the caller (the
     * encoder's threads hand their results over before it returns), which is when conversions read it.
     */
    public LatticeStats stats() {
        LatticeStats all = new LatticeStats();
        for (LatticeStats s : perThread) all.merge(s);
        return all;
    }
}
