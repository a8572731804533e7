package dev.requant.formats.gguf;

import dev.requant.formats.ggml.GgmlType;
import java.util.Arrays;
import java.util.Objects;

/**
 * A tensor as a GGUF file declares it: name, type and dims ({@code ne}, fastest first, as many as the file stores:
 * gguf-py keeps trailing 1s, llama.cpp's writer drops them). Offsets are the layout's business, not the spec's.
 */
public record GgufTensorSpec(String name, GgmlType type, long[] ne) {
    public GgufTensorSpec {
        Objects.requireNonNull(name);
        Objects.requireNonNull(type);
        ne = ne.clone();
        if (ne.length > GgufFile.MAX_DIMS) throw new IllegalArgumentException(name + ": more than 4 dims");
    }

    /** Dims from a row-major (PyTorch/numpy) shape: reversed. */
    public static GgufTensorSpec ofTorchShape(String name, GgmlType type, long... shape) {
        long[] ne = new long[shape.length];
        for (int i = 0; i < shape.length; i++) ne[i] = shape[shape.length - 1 - i];
        return new GgufTensorSpec(name, type, ne);
    }

    @Override
    public long[] ne() { return ne.clone(); }

    public int nDims() { return ne.length; }

    /** ne[i], or 1 past the stored dims. */
    public long dim(int i) { return i < ne.length ? ne[i] : 1; }

    public long elementCount() {
        long n = 1;
        for (long d : ne) n = Math.multiplyExact(n, d);
        return n;
    }

    /** Row length: ne[0] (1 for a 0-dim tensor). */
    public long rowLength() { return dim(0); }

    public long rows() { return ne.length == 0 ? 1 : elementCount() / ne[0]; }

    public long byteSize() {
        return Math.multiplyExact(type.rowBytes(rowLength()), rows());
    }

    /** The same tensor with another type (shape unchanged). */
    public GgufTensorSpec withType(GgmlType t) { return new GgufTensorSpec(name, t, ne); }

    /** llama.cpp's ggml_n_dims: trailing 1s dropped, at least one dim. */
    public GgufTensorSpec withTrailingOnesDropped() {
        int n = ne.length;
        while (n > 1 && ne[n - 1] == 1) n--;
        return n == ne.length ? this : new GgufTensorSpec(name, type, Arrays.copyOf(ne, Math.max(n, 1)));
    }

    @Override
    public boolean equals(Object o) {
        return o instanceof GgufTensorSpec s && s.name.equals(name) && s.type == type && Arrays.equals(s.ne, ne);
    }

    @Override
    public int hashCode() { return Objects.hash(name, type, Arrays.hashCode(ne)); }

    @Override
    public String toString() { return name + " " + type + " " + Arrays.toString(ne); }
}
