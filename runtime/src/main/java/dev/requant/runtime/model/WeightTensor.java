package dev.requant.runtime.model;

import dev.requant.formats.ggml.GgmlType;
import java.lang.foreign.MemorySegment;
import java.util.Arrays;

/**
 * A weight matrix (or a stack of expert matrices) in its stored GGML type: a view of the model's bytes, never a float
 * copy. Rows are output features: row r of matrix e holds the {@link #cols()} input weights of output r, as ggml's
 * {@code ne = {in, out, n_expert}} says.
 *
 * @param outputScales per-matrix factors applied to the product (the {@code <name>.scale} tensor of NVFP4 checkpoints:
 *     one value, or one per expert), or null when the tensor has none
 */
public record WeightTensor(String name, GgmlType type, long[] ne, MemorySegment data, float[] outputScales) {
    public WeightTensor {
        ne = ne.clone();
    }

    @Override
    public long[] ne() { return ne.clone(); }

    /** Input features (ne[0]). */
    public int cols() { return (int) ne[0]; }

    /** Output features of one matrix (ne[1]). */
    public int rows() { return ne.length > 1 ? (int) ne[1] : 1; }

    /** Number of stacked matrices (ne[2]; experts), 1 for a plain matrix. */
    public int matrices() { return ne.length > 2 ? (int) ne[2] : 1; }

    public long rowBytes() { return type.rowBytes(ne[0]); }

    /** Byte offset of row r of matrix m within {@link #data()}. */
    public long rowOffset(int m, int r) { return ((long) m * rows() + r) * rowBytes(); }

    /** The factor for matrix m's products (1 when the tensor has no scale). */
    public float outputScale(int m) {
        if (outputScales == null) return 1f;
        return outputScales.length == 1 ? outputScales[0] : outputScales[m];
    }

    @Override
    public String toString() { return name + " " + type + " " + Arrays.toString(ne); }
}
