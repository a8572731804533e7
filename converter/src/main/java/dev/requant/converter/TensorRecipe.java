package dev.requant.converter;

import dev.requant.formats.ggml.FiniteCheck;
import dev.requant.formats.ggml.GgmlType;
import java.lang.foreign.MemorySegment;
import java.util.List;
import java.util.Optional;

/**
 * How one GGUF tensor's values come about: read from one or more checkpoint tensors (possibly transformed), or
 * generated. A recipe knows its GGUF dims and can hand out its values row by row as float32; when its stored bytes
 * already are the output type and nothing is computed, it hands out those bytes directly (a slice of the mapping), so
 * BF16 to BF16 is a copy.
 *
 * <p>New checkpoint kinds (NVFP4, fused experts, QAT) add recipes; the conversion loop does not change.
 */
public interface TensorRecipe {
    /** The checkpoint tensors read (HF names); empty for generated tensors. */
    List<String> sources();

    /** What is done to the values, for the dry-run ("copy", "norm + 1", "generated"...). */
    String transform();

    /** The element type the values are stored in ("BF16", "F32", "generated"...), for the dry-run and type rules. */
    String sourceType();

    /** GGUF dims, fastest first. */
    long[] ne();

    /** The bytes exactly as {@code type} stores them, when they can be taken as they are; else empty. */
    Optional<MemorySegment> stored(GgmlType type);

    /**
     * Where in a file the bytes of {@link #stored} lie, when they are a contiguous region of one (a safetensors
     * tensor), so that they can be copied file to file inside the kernel; else empty.
     */
    default Optional<FileRegion> storedRegion(GgmlType type) {
        return Optional.empty();
    }

    /** A byte range of a file. */
    record FileRegion(java.nio.file.Path file, long offset, long length) {}

    /**
     * Reads rows {@code [row, row + count)} (each {@code ne[0]} values) as float32 into {@code dst} from index 0. Rows
     * run over all dims above the first, in storage order.
     */
    void readRows(long row, int count, float[] dst);

    /**
     * {@link #readRows}, and whether every value read is finite (no NaN, no infinity): what quantized outputs must
     * check. Recipes that can check while they read (BF16 widening) do it in the same pass.
     */
    default boolean readFiniteRows(long row, int count, float[] dst) {
        readRows(row, count, dst);
        return FiniteCheck.allFinite(dst, 0, Math.toIntExact(count * rowLength()));
    }

    default long rowLength() { return ne()[0]; }

    default long rows() {
        long[] ne = ne();
        long r = 1;
        for (int i = 1; i < ne.length; i++) r = Math.multiplyExact(r, ne[i]);
        return r;
    }

    default int nDims() { return ne().length; }
}
