package dev.requant.converter.qat;

import dev.requant.formats.ggml.BFloat16;
import dev.requant.formats.ggml.BlockCodec;
import dev.requant.formats.ggml.GgmlType;
import java.lang.foreign.MemorySegment;
import java.util.List;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.atomic.AtomicBoolean;

/**
 * Q4_0 written through lattice recovery instead of llama.cpp's max/-8 encoder: same block format, so any consumer of
 * Q4_0 reads it, but a QAT block keeps the codes and scale it was trained on. Usable wherever a {@link BlockCodec}
 * is (thread-safe: one solver per thread); the statistics of everything it encoded accumulate in {@link #stats()}.
 */
public final class LatticeQ4_0Codec implements BlockCodec, LatticeCodec {
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

    private static final AtomicBoolean WARM = new AtomicBoolean();

    /**
     * Encodes some thousands of synthetic QAT blocks (BF16 scales, extreme codes 5 to 8, so every candidate path runs)
     * to get the solver compiled by C2: interpreted, its Vector API code costs tens of microseconds per block, and a
     * conversion's first tensors would pay that on every encoder thread. Once per process; meant for a background
     * thread at start-up.
     */
    public static void warmUp() {
        if (!Q4_0Lattice.VECTOR || !WARM.compareAndSet(false, true)) return;
        int blocks = 64, qk = Q4_0Lattice.QK;
        float[] x = new float[blocks * qk];
        long seed = 0x9E3779B97F4A7C15L;
        for (int b = 0; b < blocks; b++) {
            int k = 5 + b % 4;
            float d = BFloat16.round(1e-3f * (1 + (b % 11) / 11f));
            for (int i = 0; i < qk; i++) {
                seed = seed * 6364136223846793005L + 1442695040888963407L;
                int q = (int) ((seed >>> 33) % (2 * k + 1)) - k;
                x[b * qk + i] = BFloat16.round(Math.min(q, 7) * d);
            }
        }
        LatticeQ4_0Codec codec = new LatticeQ4_0Codec(StoredPrecision.BF16);
        MemorySegment out = MemorySegment.ofArray(new byte[blocks * Q4_0Lattice.BLOCK_BYTES]);
        for (int rep = 0; rep < 200; rep++) codec.encodeRow(x, 0, x.length, null, out, 0);
    }

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
    @Override
    public LatticeStats stats() {
        LatticeStats all = new LatticeStats();
        for (LatticeStats s : perThread) all.merge(s);
        return all;
    }
}
