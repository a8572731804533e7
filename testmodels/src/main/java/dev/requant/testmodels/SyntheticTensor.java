package dev.requant.testmodels;

import dev.requant.formats.safetensors.SafetensorsDtype;

/** One tensor of a synthetic checkpoint: HF name, row-major shape, dtype, and whether it belongs to a Gemma 4 model. */
public record SyntheticTensor(String name, long[] shape, SafetensorsDtype dtype, boolean gemma4) {
    public SyntheticTensor {
        shape = shape.clone();
    }

    @Override
    public long[] shape() { return shape.clone(); }

    public long elementCount() {
        long n = 1;
        for (long d : shape) n = Math.multiplyExact(n, d);
        return n;
    }

    public long byteSize() { return Math.multiplyExact(elementCount(), (long) dtype.size()); }

    public SyntheticTensor withName(String n) { return new SyntheticTensor(n, shape, dtype, gemma4); }

    public SyntheticTensor withDtype(SafetensorsDtype d) { return new SyntheticTensor(name, shape, d, gemma4); }
}
