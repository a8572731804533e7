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

    /** Gets the vector kernels compiled before bulk work starts (see VectorCodecs.warmUp); no-op when disabled. */
    public static void warmUp() {
        if (ENABLED) VectorCodecs.warmUp();
    }

    static void registerFastCodecs(Map<GgmlType, BlockCodec> codecs) {
        VectorCodecs.register(codecs);
    }
}
