package dev.requant.formats.gguf;

import dev.requant.formats.io.LittleEndianBuffer;

/** Hand-assembled GGUF bytes for the bad-input corpus: every field written explicitly, including wrong ones. */
final class GgufBytes {
    final LittleEndianBuffer b = new LittleEndianBuffer();

    GgufBytes header(int version, long nTensors, long nKv) {
        b.i32(GgufFile.MAGIC).i32(version).i64(nTensors).i64(nKv);
        return this;
    }

    GgufBytes str(String s) {
        b.ggufString(s);
        return this;
    }

    GgufBytes kvU32(String key, int v) {
        b.ggufString(key).i32(GgufValueType.UINT32.id()).i32(v);
        return this;
    }

    GgufBytes kvString(String key, String v) {
        b.ggufString(key).i32(GgufValueType.STRING.id()).ggufString(v);
        return this;
    }

    GgufBytes tensor(String name, int type, long offset, long... ne) {
        b.ggufString(name).i32(ne.length);
        for (long d : ne) b.i64(d);
        b.i32(type).i64(offset);
        return this;
    }

    /** Zero padding up to {@code alignment}, then {@code dataBytes} zero bytes of tensor data. */
    GgufBytes data(int alignment, int dataBytes) {
        int pad = (alignment - b.size() % alignment) % alignment;
        b.zeros(pad + dataBytes);
        return this;
    }

    byte[] bytes() { return b.toByteArray(); }
}
