package dev.requant.formats.ggml;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.util.EnumMap;
import java.util.Map;
import java.util.Set;

/**
 * A Vector API encoder that the JIT has not compiled yet stands in for its scalar reference. Until C2 compiles a
 * kernel, the Vector API runs as boxed Java code, 20-100x slower than the scalar codec: on the 127 M-weight model
 * whole TQ1_0 or Q2_K files spent nearly all their CPU time there (the token_embd's Q6_K first, then the main type),
 * and the kernels that make requant 3-10x faster than ggml per weight never paid off. So while a kernel is cold, the
 * encoder threads use the scalar reference (compiled in milliseconds, about ggml's speed), and one daemon thread per
 * kernel drives the vector codec on a synthetic row until it is measurably faster than the scalar one; from the
 * next row on, the encoders use it. Both give the same bytes (the vector codecs are tested bit-exact against the
 * references), so which rows went which way never shows in the output.
 *
 * <p>A kernel is warmed only where the work pays for it: a quantization announces each type's weights from its plan
 * ({@link #expect}), and the warm-up starts when the scalar reference would spend {@link #WORTH_NANOS} on them; other
 * callers warm on first use. Importance-weighted and plain encoding take different branches of the kernels, so each
 * mode is warmed on its own (a kernel compiled without importance would deoptimize on the first weighted row).
 */
final class ColdStartCodec implements BlockCodec {
    /**
     * Vector must be this much faster than scalar (time per call, and than {@link #SCALAR_NANOS_PER_WEIGHT}) to be
     * taken as compiled.
     */
    static final double SPEED_UP = 0.5;
    /** A warm-up that has not seen the vector code win after this many calls gives up: the scalar codec stays. */
    static final int MAX_CALLS = 100_000;
    /** Nor after this long (a machine much slower than {@link #SCALAR_NANOS_PER_WEIGHT}'s would spin for minutes). */
    static final long MAX_NANOS = 30_000_000_000L;
    /**
     * Warm a vector kernel only for at least this much scalar work: the warm-up costs its thread 0.4-1.4 CPU-s (the
     * kernel's first hundreds of calls run as boxed Java code) plus C2's compile time, and the vector codec then
     * saves 70-95% of the encoding time. Precisely: warm where the vector codec would save at least
     * {@link #VECTOR_SHARE}'s complement of this, {@code expected * (scalar - vector) >= (1 - 0.2) * WORTH_NANOS},
     * the same rule for a kernel at the usual fifth of the scalar cost, and a later one where the scalar encoder is
     * nearly as fast (Q2_K since LaneQkxFit).
     */
    static final long WORTH_NANOS = 2_000_000_000L;
    /** The vector encoders' cost as a share of the scalar one where {@link #vectorNanos} has no measurement. */
    static final double VECTOR_SHARE = 0.2;
    /**
     * What the scalar reference encoders cost per weight once compiled (plain rows, one thread, CodecSpeed with
     * -Drequant.vector=false on the shared 2-core AMD EPYC VM, 2026-12-06; Q6_K since LaneQxBlocks, 28 with
     * LaneQxFit, 42 before; Q3_K since Q3Fit and its branch-free packing, 16 before; Q4_K and Q5_K since LaneQkxFit,
     * 75 and 80 before). Only the order of magnitude matters: with
     * {@link #WORTH_NANOS} it says from how many weights on a kernel is worth compiling (Q6_K: 280 M, Q2_K: 246 M,
     * TQ1_0: 600 M). Q2_K since LaneQkxFit (runs of 32 super-blocks), 72 before. IQ3_S and IQ3_XXS: IqEncodeSpeed,
     * with importance (the search is the same without).
     */
    static final Map<GgmlType, Double> SCALAR_NANOS_PER_WEIGHT = Map.ofEntries(Map.entry(GgmlType.Q2_0, 4.7),
            Map.entry(GgmlType.TQ1_0, 5.0), Map.entry(GgmlType.TQ2_0, 3.0), Map.entry(GgmlType.Q2_K, 17.0),
            Map.entry(GgmlType.Q3_K, 12.0), Map.entry(GgmlType.Q4_K, 19.0), Map.entry(GgmlType.Q5_K, 20.0),
            Map.entry(GgmlType.Q6_K, 14.0), Map.entry(GgmlType.IQ4_NL, 210.0), Map.entry(GgmlType.IQ4_XS, 210.0),
            Map.entry(GgmlType.IQ3_S, 260.0), Map.entry(GgmlType.IQ3_XXS, 400.0));
    /**
     * The same with importance weights, where that path costs much more than the plain one (measured as above;
     * Q2_K since LaneQkxFit, 72 plain before it: its imatrix search tries 37 scales, the plain one 16; Q3_K since
     * LaneQxBlocks, 38 with LaneQxFit; Q4_K and Q5_K since LaneQkxFit, 75 and 80 plain before); other types
     * are taken at their plain cost.
     */
    static final Map<GgmlType, Double> WEIGHTED_SCALAR_NANOS_PER_WEIGHT = Map.of(GgmlType.Q2_K, 36.0, GgmlType.Q3_K, 18.0,
            GgmlType.Q4_K, 31.0, GgmlType.Q5_K, 35.0);

    /**
     * What the compiled vector encoder of {@code type} costs per weight: measured where the scalar encoder comes close
     * (CodecSpeed as above, rows of 1024, 2026-12-06: Q2_K 10.5 plain, 21 with importance; Q3_K 10.6 with importance;
     * Q4_K 10.1 / 16.7; Q5_K 12.8 / 20.3; Q6_K 8.3), else {@link #VECTOR_SHARE}
     * of the scalar cost.
     */
    static double vectorNanos(GgmlType type, boolean weighted) {
        return switch (type) {
            case Q2_K -> weighted ? 21.0 : 10.5;
            case Q3_K -> weighted ? 10.6 : VECTOR_SHARE * scalarNanos(type, false);
            case Q4_K -> weighted ? 16.7 : 10.1;
            case Q5_K -> weighted ? 20.3 : 12.8;
            case Q6_K -> 8.3;
            case IQ3_S -> 95.0; // VectorIq3Search, IqEncodeSpeed as above
            case IQ3_XXS -> 150.0;
            default -> VECTOR_SHARE * scalarNanos(type, weighted);
        };
    }

    /**
     * The time per call, as a share of the scalar codec's, under which the vector codec counts as compiled: half,
     * or where the compiled kernel itself takes more than a third, halfway between its share and the scalar cost
     * (boxed, uncompiled Vector API code is 20-100x slower than either, so this still tells the two apart).
     */
    static double speedUp(GgmlType type, boolean weighted) {
        double share = vectorNanos(type, weighted) / scalarNanos(type, weighted);
        return share <= 1.0 / 3 ? SPEED_UP : (1 + share) / 2;
    }

    /** From how many announced weights warming the kernel pays ({@link #WORTH_NANOS}). */
    static long worthWeights(GgmlType type, boolean weighted) {
        double saving = scalarNanos(type, weighted) - vectorNanos(type, weighted);
        return saving > 0 ? (long) Math.ceil((1 - VECTOR_SHARE) * WORTH_NANOS / saving) : Long.MAX_VALUE;
    }

    /** What the scalar encoder of {@code type} costs per weight in the given mode (0 for a type not in the table). */
    static double scalarNanos(GgmlType type, boolean weighted) {
        Double cost = weighted ? WEIGHTED_SCALAR_NANOS_PER_WEIGHT.get(type) : null;
        return cost != null ? cost : SCALAR_NANOS_PER_WEIGHT.getOrDefault(type, 0.0);
    }
    /** Elements of the synthetic row: four K-quant super-blocks, long enough to time with System.nanoTime. */
    static final int ROW = 1024;

    /** Warm-up state of one kernel in one mode. */
    static final class Kernel {
        final GgmlType type;
        final boolean weighted;
        final BlockCodec vector;
        final BlockCodec scalar;
        private volatile boolean warm;
        private volatile boolean gaveUp;
        private volatile boolean started;
        /** Weights announced by {@link #expect} and not yet warmed for; negative: never told (warm on first use). */
        private long expected = -1; // guarded by this

        Kernel(GgmlType type, boolean weighted, BlockCodec vector, BlockCodec scalar) {
            this.type = type;
            this.weighted = weighted;
            this.vector = vector;
            this.scalar = scalar;
        }

        boolean warm() { return warm; }

        boolean gaveUp() { return gaveUp; }

        /** Whether the warm-up thread was started. */
        boolean started() { return started; }

        /** Marks the vector codec compiled (tests use this to check both sides of the switch). */
        void markWarm() { warm = true; }

        /**
         * More weights of this type are coming (a quantization's plan): warms the vector kernel now if, with what
         * was announced before, the vector kernel would save what {@link #WORTH_NANOS} says.
         */
        synchronized void expect(long weights) {
            expected = Math.max(expected, 0) + weights;
            if (expected >= worthWeights(type, weighted)) start();
        }

        /** A tensor is about to be encoded: without a plan's announcement, the kernel is warmed on its first use. */
        synchronized void used() {
            if (expected < 0) start();
        }

        synchronized void start() {
            if (started || warm) return;
            started = true;
            if (LOG) System.err.printf("warm-up %s%s: started (%d weights announced)%n", type, weighted ? " imatrix" : "", expected);
            Thread thread = new Thread(this::warmUp, "requant-warm-up-" + type.ggmlName() + (weighted ? "-imatrix" : ""));
            thread.setDaemon(true);
            thread.start();
        }

        private void warmUp() {
            float[] x = syntheticRow();
            float[] w = weighted ? syntheticImportance() : null;
            MemorySegment out = Arena.ofAuto().allocate(type.rowBytes(ROW));
            long bestScalar = Long.MAX_VALUE;
            // the scalar codec may still be interpreted here (the encoders have not reached this type yet), and a
            // vector kernel in C1 code beats an interpreted scalar one: also compare with the compiled scalar speed
            double compiledScalar = scalarNanos(type, weighted) * ROW;
            long bestVectorRecent = Long.MAX_VALUE;
            long begun = System.nanoTime();
            for (int call = 0; call < MAX_CALLS && System.nanoTime() - begun < MAX_NANOS; call++) {
                if (call % 16 == 0) { // the scalar codec is also warming, in the encoder threads: keep its best
                    long t = System.nanoTime();
                    scalar.encodeRow(x, 0, ROW, w, out, 0);
                    bestScalar = Math.min(bestScalar, System.nanoTime() - t);
                    bestVectorRecent = Long.MAX_VALUE;
                }
                long t = System.nanoTime();
                vector.encodeRow(x, 0, ROW, w, out, 0);
                bestVectorRecent = Math.min(bestVectorRecent, System.nanoTime() - t);
                if (call >= 32 && bestVectorRecent <= speedUp(type, weighted) * Math.min(bestScalar, compiledScalar)) {
                    if (LOG) System.err.printf("warm-up %s%s: warm after %d calls, %.0f ms CPU, vector %d ns, scalar %d ns%n", type,
                            weighted ? " imatrix" : "", call, threadCpuMs(), bestVectorRecent, bestScalar);
                    warm = true;
                    return;
                }
            }
            gaveUp = true;
            if (LOG) System.err.printf("warm-up %s: gave up, %.0f ms CPU, vector %d ns, scalar %d ns%n", type, threadCpuMs(), bestVectorRecent, bestScalar);
        }
    }

    private static final boolean LOG = Boolean.getBoolean("requant.warmup.log");

    private static double threadCpuMs() {
        return java.lang.management.ManagementFactory.getThreadMXBean().getCurrentThreadCpuTime() / 1e6;
    }

    private static final Map<GgmlType, Kernel> PLAIN = new EnumMap<>(GgmlType.class);
    private static final Map<GgmlType, Kernel> WEIGHTED = new EnumMap<>(GgmlType.class);

    /**
     * The codec to encode a tensor with: {@code codec} itself unless it is a Vector API encoder of
     * {@link BlockCodec#of} that is not compiled yet, in which case one that encodes with the scalar reference until
     * it is, and then with it.
     */
    static BlockCodec forTensor(BlockCodec codec, boolean weighted) {
        Kernel k = VectorSupport.enabled() ? kernel(codec, weighted && codec.usesImportance()) : null;
        if (k == null || k.warm || k.gaveUp) return codec;
        k.used();
        return new ColdStartCodec(k);
    }

    /** Tells the warm-up of {@code type}'s vector encoder that {@code weights} more weights are to be encoded. */
    static void expect(GgmlType type, boolean weighted, long weights) {
        BlockCodec codec = SCALAR_NANOS_PER_WEIGHT.containsKey(type) ? BlockCodec.of(type) : null;
        Kernel k = codec != null ? kernel(codec, weighted && codec.usesImportance()) : null;
        if (k != null) k.expect(weights);
    }

    /** The warm-up state of a vector encoder of {@link BlockCodec#of}, or null for any other codec. */
    static Kernel kernel(BlockCodec codec, boolean weighted) {
        GgmlType type = codec.type();
        // the types of the table have Vector API encoders; any other codec (a search, the lattice) is left alone
        if (!SCALAR_NANOS_PER_WEIGHT.containsKey(type) || codec != BlockCodec.of(type)) return null;
        Map<GgmlType, Kernel> kernels = weighted ? WEIGHTED : PLAIN;
        synchronized (kernels) {
            return kernels.computeIfAbsent(type, t -> new Kernel(t, weighted, codec, BlockCodec.reference(t)));
        }
    }

    private final Kernel kernel;

    ColdStartCodec(Kernel kernel) {
        this.kernel = kernel;
    }

    @Override public GgmlType type() { return kernel.type; }

    @Override
    public void decode(MemorySegment src, long srcOffset, float[] dst, int dstOffset, int n) {
        (kernel.warm ? kernel.vector : kernel.scalar).decode(src, srcOffset, dst, dstOffset, n);
    }

    @Override
    public void encodeRow(float[] src, int srcOffset, int n, float[] importance, MemorySegment dst, long dstOffset) {
        if (kernel.warm) {
            kernel.vector.encodeRow(src, srcOffset, n, importance, dst, dstOffset);
            return;
        }
        kernel.scalar.encodeRow(src, srcOffset, n, importance, dst, dstOffset);
    }

    @Override
    public void encodeRows(float[] src, int srcOffset, int n, int rows, float[] importance, MemorySegment dst, long dstOffset) {
        (kernel.warm ? kernel.vector : kernel.scalar).encodeRows(src, srcOffset, n, rows, importance, dst, dstOffset);
    }

    @Override public boolean usesImportance() { return kernel.vector.usesImportance(); }

    @Override public boolean requiresImportance() { return kernel.vector.requiresImportance(); }

    /**
     * Weights shaped like a model's rows (Gaussian, a spread of row scales, an outlier now and then), so that the
     * kernels are compiled for the branches real rows take.
     */
    static float[] syntheticRow() {
        java.util.Random r = new java.util.Random(0x5eed);
        float[] x = new float[ROW];
        for (int i = 0; i < ROW; i++) {
            float scale = 0.02f * (1 + (i / 256));
            x[i] = (float) r.nextGaussian() * scale * (r.nextInt(200) == 0 ? 8 : 1);
        }
        return x;
    }

    /** Positive importance values spread over a few orders of magnitude, as an imatrix's are. */
    static float[] syntheticImportance() {
        java.util.Random r = new java.util.Random(0x1a7);
        float[] w = new float[ROW];
        for (int i = 0; i < ROW; i++) w[i] = (float) Math.exp(r.nextGaussian());
        return w;
    }
}
