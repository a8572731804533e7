package dev.requant.formats.ggml;

import java.util.Map;

/**
 * Whether the Vector API fast paths are used. They are when the jdk.incubator.vector module is present (the launcher
 * and the build add it), the CPU has 256-bit vectors, and the system property {@value #PROPERTY} is not "false".
 * {@code -Drequant.vector=false} forces the scalar reference codecs everywhere; outputs are identical either way.
 */
public final class VectorSupport {
    private VectorSupport() {}

    public static final String PROPERTY = "requant.vector";

    private static final boolean MODULE = ModuleLayer.boot().findModule("jdk.incubator.vector").isPresent();

    private static final boolean REQUESTED = !"false".equalsIgnoreCase(System.getProperty(PROPERTY));

    private static final boolean ENABLED = REQUESTED && MODULE && VectorCodecs.supported();

    /**
     * From how many weights the Vector API encoders of Q4_0 and Q8_0 (compiled at once, no {@link ColdStartCodec})
     * make up for the module's cost (see {@link #pays}): measured whole runs, 2 threads, on the 2-core VM, 2026-12-06:
     * Q8_0 of 127 M weights took 0.9 CPU-s more with the module than without, of the 1.0 B-weight Gemma 3 1B shape
     * 2.3 CPU-s less; the line through both crosses zero near 370 M.
     */
    static final long Q4_Q8_WORTH_WEIGHTS = 400_000_000L;

    /**
     * Whether this JVM has the jdk.incubator.vector module. The ./requant launcher starts some commands without it: JDK
     * 25 archives no module graph in an AOT cache whose boot layer holds an incubator module (ModuleBootstrap), and
     * without it every lambda, string concatenation and method handle of a run is generated at start-up, 0.2-0.35 s of
     * a short command on 2 cores.
     */
    public static boolean modulePresent() { return MODULE; }

    /** Whether the Vector API paths are wanted: {@value #PROPERTY} is not "false" (whether or not they can run here). */
    public static boolean requested() { return REQUESTED; }

    /**
     * Whether encoding {@code weights} weights of {@code type} (with importance weights or without) is worth a JVM with
     * the Vector API module: where {@link ColdStartCodec} would compile the type's vector kernel (its scalar encoder
     * would spend {@link ColdStartCodec#WORTH_NANOS} on them), and Q4_0 or Q8_0 from {@link #Q4_Q8_WORTH_WEIGHTS}.
     * Not the IQ1/IQ2 types: their vector encoders vectorize only part of the search, and whole IQ2_XXS and IQ1_S
     * runs of 127 M weights took the same CPU time either way. Holds in any JVM (it loads no Vector API class), so
     * that one started without the module can tell whether to hand its work over.
     */
    public static boolean pays(GgmlType type, boolean weighted, long weights) {
        if (type == GgmlType.Q4_0 || type == GgmlType.Q8_0) return weights >= Q4_Q8_WORTH_WEIGHTS;
        return ColdStartCodec.SCALAR_NANOS_PER_WEIGHT.containsKey(type) && weights >= ColdStartCodec.worthWeights(type, weighted);
    }

    /** True when {@link BlockCodec#of} hands out the vectorized codecs. */
    public static boolean enabled() { return ENABLED; }

    /**
     * Gets {@code target}'s encoder (Q4_0, Q8_0) compiled before bulk work starts (see
     * VectorCodecs.warmUp); no-op when disabled or already done.
     */
    public static void warmUp(GgmlType target) {
        if (ENABLED) VectorCodecs.warmUp(target);
    }

    /**
     * Starts {@link #warmUp} of each target on a daemon thread: called as a process starts,
     * it overlaps the JIT's work with start-up and planning on a second core instead of delaying the first tensor.
     */
    public static void warmUpInBackground(GgmlType... targets) {
        if (!ENABLED) return;
        Thread t = new Thread(() -> {
            for (GgmlType target : targets) warmUp(target);
        }, "requant-warm-up");
        t.setDaemon(true);
        t.start();
    }

    /**
     * Tells the encoders that {@code weights} weights of {@code type} are about to be encoded, with importance weights
     * or without (a quantization's plan):
     * a Vector API encoder is compiled (a CPU-second or two of JIT work) only where that much work pays for it, and
     * until then the scalar reference encodes (see ColdStartCodec). Without this hint the kernels are always warmed.
     */
    public static void expectWork(GgmlType type, boolean weighted, long weights) {
        if (ENABLED) ColdStartCodec.expect(type, weighted, weights);
    }

    static void registerFastCodecs(Map<GgmlType, BlockCodec> codecs) {
        VectorCodecs.register(codecs);
    }
}
