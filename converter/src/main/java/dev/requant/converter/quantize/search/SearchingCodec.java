package dev.requant.converter.quantize.search;

import dev.requant.formats.ggml.BlockCodec;
import dev.requant.formats.ggml.GgmlType;
import java.lang.foreign.MemorySegment;

/**
 * An encoder that starts from llama.cpp's bytes and replaces a block only when its own search finds an encoding with
 * a strictly smaller {@link SearchObjective} error, so no block is ever worse than llama.cpp's. Decoding is the
 * type's own. Safe for concurrent use (scratch space is per thread).
 */
abstract class SearchingCodec implements BlockCodec {
    protected final GgmlType type;
    protected final BlockCodec llama;
    protected final int blockElements;
    protected final int blockBytes;
    private final ThreadLocal<float[][]> rowScratch = ThreadLocal.withInitial(() -> new float[2][0]);

    SearchingCodec(GgmlType type) {
        this.type = type;
        this.llama = BlockCodec.of(type);
        this.blockElements = type.blockSize();
        this.blockBytes = type.typeSize();
    }

    @Override public GgmlType type() { return type; }

    /** The search uses the imatrix for its objective even where llama.cpp's encoder ignores it (Q8_0, MXFP4). */
    @Override public boolean usesImportance() { return true; }

    @Override
    public void decode(MemorySegment src, long srcOffset, float[] dst, int dstOffset, int n) {
        llama.decode(src, srcOffset, dst, dstOffset, n);
    }

    @Override
    public void encodeRow(float[] x, int xo, int n, float[] importance, MemorySegment dst, long dstOffset) {
        llama.encodeRow(x, xo, n, llama.usesImportance() ? importance : null, dst, dstOffset);
        float[][] s = rowScratch.get();
        if (s[0].length < n) {
            s[0] = new float[n];
            s[1] = new float[n];
        }
        float[] w = s[0], decoded = s[1];
        SearchObjective.weights(type, x, xo, n, importance, w);
        llama.decode(dst, dstOffset, decoded, 0, n);
        for (int b = 0; b < n / blockElements; b++) {
            int o = b * blockElements;
            double llamaError = SearchObjective.error(x, xo + o, decoded, o, w, o, blockElements);
            improve(x, xo + o, w, o, llamaError, dst, dstOffset + (long) b * blockBytes);
        }
    }

    /**
     * Searches one block; writes a better encoding over llama.cpp's at {@code block} only if its error is strictly below
     * {@code llamaError}.
     */
    abstract void improve(float[] x, int xo, float[] w, int wo, double llamaError, MemorySegment dst, long block);
}
