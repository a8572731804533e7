package dev.requant.converter.qat;

import dev.requant.formats.ggml.BlockCodec;
import dev.requant.formats.ggml.GgmlType;
import java.lang.foreign.MemorySegment;
import java.util.List;
import java.util.concurrent.CopyOnWriteArrayList;

/**
 * Q8_0 written through lattice recovery: a block trained on a Q8_0 lattice keeps its codes and F16 scale (so the
 * dequantized weights round back to the stored ones bit for bit), any other block gets llama.cpp's own Q8_0 bytes.
 * Thread-safe (one solver per thread); the statistics of everything it encoded accumulate in {@link #stats()}.
 */
public final class LatticeQ8_0Codec implements BlockCodec, LatticeCodec {
    private final StoredPrecision precision;
    private final List<LatticeStats> perThread = new CopyOnWriteArrayList<>();
    private final ThreadLocal<Worker> workers;

    private record Worker(Q8_0Lattice solver, LatticeStats stats) {}

    public LatticeQ8_0Codec(StoredPrecision precision) {
        this.precision = precision;
        this.workers = ThreadLocal.withInitial(() -> {
            LatticeStats stats = new LatticeStats();
            perThread.add(stats);
            return new Worker(new Q8_0Lattice(precision), stats);
        });
    }

    public StoredPrecision precision() { return precision; }

    @Override public GgmlType type() { return GgmlType.Q8_0; }

    @Override
    public void decode(MemorySegment src, long srcOffset, float[] dst, int dstOffset, int n) {
        BlockCodec.of(GgmlType.Q8_0).decode(src, srcOffset, dst, dstOffset, n);
    }

    @Override
    public void encodeRow(float[] src, int srcOffset, int n, float[] importance, MemorySegment dst, long dstOffset) {
        Worker w = workers.get();
        for (int b = 0; b < n / Q8_0Lattice.QK; b++) {
            w.solver().solve(src, srcOffset + b * Q8_0Lattice.QK);
            w.solver().writeBlock(dst, dstOffset + (long) b * Q8_0Lattice.BLOCK_BYTES);
            w.stats().add(w.solver());
        }
    }

    @Override
    public LatticeStats stats() {
        LatticeStats all = new LatticeStats();
        for (LatticeStats s : perThread) all.merge(s);
        return all;
    }
}
