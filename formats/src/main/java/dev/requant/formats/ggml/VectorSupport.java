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

    private static final boolean ENABLED = !"false".equalsIgnoreCase(System.getProperty(PROPERTY))
            && ModuleLayer.boot().findModule("jdk.incubator.vector").isPresent()
            && VectorCodecs.supported();

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
