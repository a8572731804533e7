package dev.requant.formats.ggml;

import java.lang.foreign.MemorySegment;

/**
 * Encodes and decodes rows of one GGML type; knows nothing about files. Rows are the unit because llama.cpp's
 * importance-weighted quantizers use statistics of the whole row (Q4_0's sigma^2), and blocks never cross rows.
 *
 * <p>Every codec has a scalar reference implementation that is bit-exact with ggml-quants.c on x86-64; faster paths
 * are checked against it, never the other way round.
 */
public interface BlockCodec {
    GgmlType type();

    /** Decodes {@code n} elements (a multiple of the block size) starting at byte {@code srcOffset}. */
    void decode(MemorySegment src, long srcOffset, float[] dst, int dstOffset, int n);

    /**
     * Encodes one row of {@code n} elements into {@code dst} at byte {@code dstOffset}.
     *
     * @param importance per-column weights of this row (the imatrix mean of x^2, length {@code n}), or null for the
     *     reference path; codecs whose llama.cpp quantizer ignores an imatrix (Q8_0, MXFP4, NVFP4, float types)
     *     ignore it too
     */
    void encodeRow(float[] src, int srcOffset, int n, float[] importance, MemorySegment dst, long dstOffset);

    /**
     * Encodes {@code rows} consecutive rows of {@code n} elements (at {@code srcOffset + r*n}), all with the same
     * importance, into consecutive rows at {@code dstOffset}: the same bytes as {@link #encodeRow} row by row, which
     * is what this default does. A codec whose encoder runs faster on more blocks at once (Q2_K's sub-block fits run
     * side by side across blocks) takes the rows as one run of blocks.
     */
    default void encodeRows(float[] src, int srcOffset, int n, int rows, float[] importance, MemorySegment dst,
            long dstOffset) {
        long rowBytes = rowBytes(n);
        for (int r = 0; r < rows; r++) encodeRow(src, srcOffset + r * n, n, importance, dst, dstOffset + r * rowBytes);
    }

    /** Whether {@link #encodeRow} gives different bytes with an importance vector (llama.cpp's quantize_* do). */
    default boolean usesImportance() { return false; }

    /**
     * Whether {@link #encodeRow} needs an importance vector: ggml_quantize_requires_imatrix's types (IQ2_XXS, IQ2_XS,
     * IQ1_S), whose quantizers assert on a missing one; their codecs throw an IllegalArgumentException instead.
     */
    default boolean requiresImportance() { return false; }

    /** Bytes of a row of {@code n} elements. */
    default long rowBytes(int n) { return type().rowBytes(n); }

    /**
     * The codec for a type (the vectorized one where there is one and {@link VectorSupport#enabled()}), or an
     * {@link UnsupportedOperationException} naming the type.
     */
    static BlockCodec of(GgmlType type) {
        return BlockCodecs.of(type);
    }

    /** The scalar reference codec for a type, the one every fast path is tested against. */
    static BlockCodec reference(GgmlType type) {
        return BlockCodecs.reference(type);
    }

    /**
     * IQ1_M as llama.cpp encoded it before PR 28706 (September 2026): each split scored by summing its elements
     * instead of prefix sums, which rounds differently in some blocks. Only for reproducing files of those builds
     * (the golden gemma3-tiny IQ1_M files); {@link #of} gives the pinned build's encoder.
     */
    static BlockCodec iq1mBeforePrefixSums() {
        return new IQ1_MCodec(true);
    }

    /** The types that have a codec (decode and encode). */
    static java.util.Set<GgmlType> supported() {
        return BlockCodecs.supported();
    }
}
