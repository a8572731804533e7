package dev.requant.formats.ggml;

import java.util.EnumMap;
import java.util.Map;

/** The one table from GGML type to codec. */
final class BlockCodecs {
    private BlockCodecs() {}

    private static final Map<GgmlType, BlockCodec> CODECS = new EnumMap<>(GgmlType.class);

    static {
        register(new FloatCodecs.F32());
        register(new FloatCodecs.F16());
        register(new FloatCodecs.BF16());
        register(new Q8_0Codec());
        register(new Q4_0Codec());
    }

    private static void register(BlockCodec c) {
        CODECS.put(c.type(), c);
    }

    static BlockCodec of(GgmlType type) {
        BlockCodec c = CODECS.get(type);
        if (c == null) throw new UnsupportedOperationException("no codec for GGML type " + type.ggmlName());
        return c;
    }
}
