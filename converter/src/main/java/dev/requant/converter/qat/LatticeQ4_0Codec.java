package dev.requant.converter.qat;

import dev.requant.formats.ggml.BFloat16;
import dev.requant.formats.ggml.BlockCodec;
import dev.requant.formats.ggml.GgmlType;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.util.List;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.CountDownLatch;
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

    /**
     * A thread's solvers, one per stored precision, shared by the codecs of every tensor that thread encodes (a block's
     * answer depends on nothing a solver keeps from the blocks before it): the scratch is allocated once per thread
     * instead of once per tensor.
     */
    private static final ThreadLocal<Q4_0Lattice[]> SOLVERS = ThreadLocal.withInitial(() -> new Q4_0Lattice[StoredPrecision.values().length]);

    private static Q4_0Lattice solver(StoredPrecision precision) {
        Q4_0Lattice[] mine = SOLVERS.get();
        Q4_0Lattice s = mine[precision.ordinal()];
        if (s == null) {
            s = new Q4_0Lattice(precision);
            mine[precision.ordinal()] = s;
        }
        return s;
    }

    public LatticeQ4_0Codec(StoredPrecision precision) {
        this.precision = precision;
        this.workers = ThreadLocal.withInitial(() -> {
            LatticeStats stats = new LatticeStats();
            perThread.add(stats);
            return new Worker(solver(precision), stats);
        });
    }

    public StoredPrecision precision() { return precision; }

    /** Set when {@link #warmUp} starts; {@link #WARM_DONE} counts down when it ends, {@link #warmed} if it ran to its end. */
    private static final AtomicBoolean WARM = new AtomicBoolean();
    private static final CountDownLatch WARM_DONE = new CountDownLatch(1);
    /** The solver's vector kernels are compiled, or being compiled. */
    private static volatile boolean warmed;
    /**
     * While {@link #warmUp} runs, the encoders solve on the plain-Java lanes ({@link Q4_0Lattice#useLanes}: compiled in
     * milliseconds, same answers) instead of Vector API code that C2 has not compiled yet and that runs as boxed Java,
     * tens of microseconds a block. Without a warm-up (callers that never start one) they use the vector kernels from
     * the first block, as before. True while the warm-up runs (started and not yet ended): it alone drives the vector
     * kernels while they compile.
     */
    private static boolean warming() {
        return WARM.get() && WARM_DONE.getCount() > 0;
    }

    /**
     * Encodes some thousands of synthetic blocks to get the solver compiled by C2: interpreted, its Vector API code
     * costs tens of microseconds per block, and a conversion's first tensors would pay that on every encoder thread.
     * The blocks take every path real checkpoints take (scales by max/-8, absmax/7 and learned rules, held in BF16 or
     * FP32; stored zeros; blocks on no lattice): C2 compiles a branch the warm-up never took as a trap, and each trap
     * that real data hits costs a recompilation of the whole solver (0.1-0.4 s of a compiler thread), which a warm-up
     * of QAT-only blocks with BF16 scales led to five times in a conversion. Once per process; meant for a background
     * thread at start-up.
     */
    public static void warmUp() {
        warmUp(() -> {});
    }

    /**
     * {@link #warmUp}, running {@code meanwhile} (another kernel's warm-up) once the solver's first passes have had its
     * batch kernel queued for C2: the thread then drives that kernel's compilation instead of running the solver in C1's
     * code, where a batch of Vector API calls costs a hundred times its compiled form, while C2 compiles it. Runs
     * {@code meanwhile} alone where there is no warm-up to run (no Vector API, or one already started).
     */
    public static void warmUp(Runnable meanwhile) {
        if (!Q4_0Lattice.VECTOR || !WARM.compareAndSet(false, true)) {
            meanwhile.run();
            return;
        }
        try {
            driveSolver(meanwhile);
            warmed = true;
        } finally {
            WARM_DONE.countDown();
        }
    }

    /**
     * Waits for a {@link #warmUp} that has started to finish; returns whether one has run to its end, so that a solver
     * of this process may use the vector kernels from its first block. Returns false at once where none was started.
     * For QatPolicy's sampled fit, see there.
     */
    public static boolean awaitWarmUp() {
        if (!WARM.get()) return false;
        try {
            WARM_DONE.await();
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
        return warmed;
    }

    /**
     * {@link #warmUp}'s work: synthetic blocks through a codec of its own, on the vector kernels. Most are what real
     * checkpoints are made of, blocks on lattices of BF16 scales. The first four passes and every eighth after them
     * also end with one block of each rare kind (a scale held in FP32 by the learned and the max/-8 rule, a block on
     * no lattice, an all-zero block): they give each rare branch a count in the profile C2 compiles the solver from,
     * so that it compiles a branch and not a trap (each trap real data hit compiled the solver again, 0.15-0.4 s of a
     * compiler thread). The first passes, because C2 compiles from them; at the end of a pass, because the first
     * blocks of the first pass run before the interpreter profiles anything. Few, so that C2 does not compile the
     * rare paths themselves (the general search, the F16 pick, the least-error fallback): with a quarter of every
     * pass rare it did, 0.5 s of compile-thread time that a checkpoint whose blocks are all on BF16 lattices never
     * used, spent before its first tensor (a checkpoint full of them gets them compiled once it runs them).
     */
    private static void driveSolver(Runnable meanwhile) {
        // rows of 36 blocks, as Gemma's 1,152-wide rows are: each row ends in blocks short of a batch of the row encoder
        // (Q4_0Lattice.encodeRows), which the solver takes one by one
        int rowBlocks = 36, blocks = 8 * rowBlocks, qk = Q4_0Lattice.QK;
        float[] common = syntheticBlocks(blocks, false), mixed = syntheticBlocks(blocks, true);
        LatticeQ4_0Codec codec = new LatticeQ4_0Codec(StoredPrecision.BF16);
        // native memory, as the encoder's chunk buffers are (a heap segment here would leave the writes compiled for the wrong kind)
        MemorySegment out = Arena.ofAuto().allocate(blocks * Q4_0Lattice.BLOCK_BYTES);
        for (int rep = 0; rep < 60; rep++) {
            if (rep == QUEUED) meanwhile.run();
            float[] x = rep < 4 || rep % 8 == 0 ? mixed : common;
            for (int row = 0; row < blocks / rowBlocks; row++) {
                codec.encode(x, row * rowBlocks * qk, rowBlocks * qk, 1, null, out, (long) row * rowBlocks * Q4_0Lattice.BLOCK_BYTES, true);
            }
        }
    }

    /**
     * Passes of {@link #driveSolver} after which the batch kernel is in C2's queue: with the launcher's thresholds for
     * this package (a tenth of the usual), C1's profiling code of it took the call counts there within 90 batches.
     */
    private static final int QUEUED = 6;

    /**
     * {@code blocks} blocks of 32 weights: kind {@code b % 16} takes block b to a lattice of a learned scale
     * (kinds 0-5), absmax/7 (6-9) or max/-8 (10-13), with the scale rounded to BF16 except for kinds 5 and 13 (held in
     * FP32); kind 14 is on no lattice and kind 15 all zero. Those four rare kinds are kept by one block each (among the
     * last 16) with {@code rare}, by none without; the others become kind {@code b % 5} (learned, BF16).
     */
    private static float[] syntheticBlocks(int blocks, boolean rare) {
        int qk = Q4_0Lattice.QK;
        float[] x = new float[blocks * qk];
        float[] w = new float[qk];
        // a linear congruential sequence, not java.util.random: its Gaussians ran interpreted at start-up and then took
        // C2 a compilation of their own (30 ms), for data whose only job is to take the solver down each path
        int seed = 0x5EED;
        for (int b = 0; b < blocks; b++) {
            int kind = b % 16;
            if ((kind == 5 || kind >= 13) && !(rare && b >= blocks - 16)) kind = b % 5;
            int o = b * qk;
            if (kind == 15) continue; // all zero
            int im = 0;
            for (int i = 0; i < qk; i++) {
                seed = seed * 1103515245 + 12345;
                w[i] = ((seed >>> 8) & 0xFFFF) / 65536f * 0.08f - 0.04f; // uniform in [-0.04, 0.04)
                if (Math.abs(w[i]) > Math.abs(w[im])) im = i;
            }
            if (kind == 14) { // not on a lattice
                for (int i = 0; i < qk; i++) x[o + i] = BFloat16.round(w[i]);
                continue;
            }
            seed = seed * 1103515245 + 12345;
            float d = kind < 6 ? Math.abs(w[im]) / (6.2f + 1.5f * (((seed >>> 8) & 0xFFFF) / 65536f)) // learned
                    : kind < 10 ? Math.abs(w[im]) / 7f : w[im] / -8f;
            if (kind != 5 && kind != 13) d = BFloat16.round(d);
            for (int i = 0; i < qk; i++) x[o + i] = BFloat16.round(Math.max(-8, Math.min(7, (int) Math.rint(w[i] / d))) * d);
        }
        return x;
    }

    @Override
    public GgmlType type() { return GgmlType.Q4_0; }

    @Override
    public void decode(MemorySegment src, long srcOffset, float[] dst, int dstOffset, int n) {
        BlockCodec.of(GgmlType.Q4_0).decode(src, srcOffset, dst, dstOffset, n);
    }

    @Override
    public void encodeRow(float[] src, int srcOffset, int n, float[] importance, MemorySegment dst, long dstOffset) {
        encode(src, srcOffset, n, 1, importance, dst, dstOffset, !warming());
    }

    /**
     * Rows a chunk at a time: the solver's batches then run on across row boundaries, and only the chunk's last blocks
     * short of a batch are solved one by one (a row of Gemma's 1,152 weights is 36 blocks: with batches of 16, a row at
     * a time left 4 of every 36 to the solver).
     */
    @Override
    public void encodeRows(float[] src, int srcOffset, int n, int rows, float[] importance, MemorySegment dst, long dstOffset) {
        encode(src, srcOffset, n, rows, importance, dst, dstOffset, !warming());
    }

    /**
     * {@link #encodeRows} on the Vector API kernels or the lanes. The warm-up calls this directly: with the choice
     * made in {@link #encodeRow}, the C2 code compiled while only the warm-up had run took a trap on the first
     * encoder's call and was compiled again.
     */
    private void encode(float[] src, int srcOffset, int n, int rows, float[] importance, MemorySegment dst, long dstOffset, boolean vectorKernels) {
        Worker w = workers.get();
        Q4_0Lattice l = w.solver();
        l.useVectorKernels(vectorKernels);
        l.encodeRows(src, srcOffset, n, rows, importance, dst, dstOffset, w.stats());
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
