package dev.requant.formats.gguf;

/** A tensor as read from a file: its spec and its offset relative to the start of the data section. */
public record GgufTensorInfo(GgufTensorSpec spec, long offset) {
    public String name() { return spec.name(); }

    public dev.requant.formats.ggml.GgmlType type() { return spec.type(); }

    public long[] ne() { return spec.ne(); }

    public long byteSize() { return spec.byteSize(); }
}
