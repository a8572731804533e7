package dev.requant.formats.safetensors;

import java.util.Arrays;

/**
 * One entry of a safetensors header: row-major {@code shape} (PyTorch order) and the byte range
 * {@code [begin, end)} relative to the start of the data section.
 */
public record SafetensorsTensor(String name, SafetensorsDtype dtype, long[] shape, long begin, long end) {
    public SafetensorsTensor {
        shape = shape.clone();
    }

    @Override
    public long[] shape() { return shape.clone(); }

    public int rank() { return shape.length; }

    public long dim(int i) { return shape[i]; }

    public long elementCount() {
        long n = 1;
        for (long d : shape) n = Math.multiplyExact(n, d);
        return n;
    }

    public long byteSize() { return end - begin; }

    @Override
    public boolean equals(Object o) {
        return o instanceof SafetensorsTensor t && t.name.equals(name) && t.dtype == dtype
                && Arrays.equals(t.shape, shape) && t.begin == begin && t.end == end;
    }

    @Override
    public int hashCode() { return name.hashCode(); }

    @Override
    public String toString() { return name + " " + dtype + " " + Arrays.toString(shape); }
}
