package dev.requant.converter;

import dev.requant.formats.ggml.GgmlType;
import java.lang.foreign.MemorySegment;

/**
 * A recipe whose output bytes are assembled from stored bytes without going through float (repacking a pre-quantized
 * checkpoint's blocks into GGML's layout). When the plan keeps its {@link #rawType()}, the conversion asks it for rows
 * of bytes; otherwise its float rows ({@link #readRows}) go through the type's encoder like any other recipe.
 */
public interface RawRecipe extends TensorRecipe {
    /** The GGML type the raw rows are in. */
    GgmlType rawType();

    /** Writes rows {@code [row, row + count)} in {@link #rawType()}'s layout to {@code dst} at byte {@code dstOffset}. */
    void copyRows(long row, int count, MemorySegment dst, long dstOffset);
}
