package dev.requant.converter.quantize.search;

import dev.requant.formats.ggml.BlockCodec;
import dev.requant.formats.ggml.GgmlType;
import java.util.EnumSet;
import java.util.Set;

/**
 * The {@code --search exhaustive} encoders. Each starts from llama.cpp's encoding of a row and replaces a block only
 * when its search finds a strictly smaller error under {@link SearchObjective}, so no block gets worse. Types where
 * the search does not pay off (see BENCHMARKS.md) keep llama.cpp's encoder.
 */
public final class ExhaustiveCodecs {
    private ExhaustiveCodecs() {}

    /** The types whose exhaustive encoder is used by {@link #forType}. */
    public static final Set<GgmlType> SEARCHED = EnumSet.of(GgmlType.Q4_0, GgmlType.Q5_0, GgmlType.Q8_0, GgmlType.Q4_1,
            GgmlType.Q5_1, GgmlType.MXFP4, GgmlType.Q4_K, GgmlType.Q5_K, GgmlType.Q6_K);

    /** The exhaustive encoder for {@code type}, or llama.cpp's where there is none. */
    public static BlockCodec forType(GgmlType type) {
        return SEARCHED.contains(type) ? searching(type) : BlockCodec.of(type);
    }

    /** The searching encoder whether or not it is enabled for the type (tests and benchmarks compare them all). */
    public static BlockCodec searching(GgmlType type) {
        return switch (type) {
            case Q4_0, Q5_0, Q8_0 -> new SymmetricScaleSearch(type);
            case Q4_1, Q5_1 -> new AffineScaleSearch(type);
            case MXFP4 -> new Mxfp4ScaleSearch();
            case Q4_K, Q5_K, Q6_K -> new KQuantScaleSearch(type);
            default -> throw new IllegalArgumentException("no exhaustive search for " + type.ggmlName());
        };
    }
}
