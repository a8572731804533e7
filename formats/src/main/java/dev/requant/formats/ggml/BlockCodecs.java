package dev.requant.formats.ggml;

import java.util.Collections;
import java.util.EnumMap;
import java.util.Map;
import java.util.Set;

/**
 * The one table from GGML type to codec. {@link #of} gives the fastest codec available (Vector API paths where they
 * exist and are enabled, see {@link VectorSupport}); {@link #reference} always gives the scalar reference that the
 * fast paths are tested against.
 */
final class BlockCodecs {
    private BlockCodecs() {}

    private static final Map<GgmlType, BlockCodec> REFERENCE = new EnumMap<>(GgmlType.class);
    private static final Map<GgmlType, BlockCodec> FAST = new EnumMap<>(GgmlType.class);

    static {
        register(new FloatCodecs.F32());
        register(new FloatCodecs.F16());
        register(new FloatCodecs.BF16());
        register(new Q4_0Codec());
        register(new Q4_1Codec());
        register(new Q5_0Codec());
        register(new Q5_1Codec());
        register(new Q8_0Codec());
        register(new Q1_0Codec());
        register(new Q2_0Codec());
        register(new TQ1_0Codec());
        register(new TQ2_0Codec());
        register(new Q2_KCodec());
        register(new Q3_KCodec());
        register(new IQ4_NLCodec());
        register(new IQ4_XSCodec());
        register(new Q4_KCodec());
        register(new Q5_KCodec());
        register(new Q6_KCodec());
        register(new Mxfp4Codec());
        register(new Nvfp4Codec());
        register(new IQ3_XXSCodec());
        register(new IQ3_SCodec());
        register(new IQ2_XXSCodec());
        register(new IQ2_XSCodec());
        register(new IQ2_SCodec());
        register(new IQ1_SCodec());
        register(new IQ1_MCodec());
        FAST.putAll(REFERENCE);
        if (VectorSupport.enabled()) VectorSupport.registerFastCodecs(FAST);
    }

    private static void register(BlockCodec c) {
        REFERENCE.put(c.type(), c);
    }

    static BlockCodec of(GgmlType type) {
        BlockCodec c = FAST.get(type);
        if (c == null) throw new UnsupportedOperationException("no codec for GGML type " + type.ggmlName());
        return c;
    }

    static BlockCodec reference(GgmlType type) {
        BlockCodec c = REFERENCE.get(type);
        if (c == null) throw new UnsupportedOperationException("no codec for GGML type " + type.ggmlName());
        return c;
    }

    static Set<GgmlType> supported() {
        return Collections.unmodifiableSet(REFERENCE.keySet());
    }
}
