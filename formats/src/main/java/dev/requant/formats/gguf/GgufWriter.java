package dev.requant.formats.gguf;

import dev.requant.formats.ggml.EncoderSink;
import dev.requant.formats.ggml.GgmlType;
import dev.requant.formats.io.AtomicFile;
import dev.requant.formats.io.LittleEndianBuffer;
import java.io.IOException;
import java.lang.foreign.MemorySegment;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Set;

/**
 * Streams a GGUF v3 file to disk: the header (key/values, tensor infos with llama.cpp's canonical offsets, zero padding)
 * is written first, then each tensor in declaration order, each followed by zero padding to the alignment, the last
 * one included (gguf.cpp gguf_write_out, gguf_writer.py). Only one tensor's worth of caller buffers is ever in flight.
 * The file appears under its name only on {@link #commit()}.
 */
public final class GgufWriter implements AutoCloseable {
    private static final int COPY_CHUNK = 64 << 20;
    /** Tensor bytes after which the file's data is sent on to the device in the background (AtomicFile.writeBackInBackground). */
    static final long WRITE_BACK_BYTES = 64L << 20;

    private final AtomicFile out;
    private final FileChannel channel;
    private final List<GgufTensorSpec> tensors;
    private final int alignment;
    private int next;
    private TensorSink open;
    private long sinceWriteBack;

    private GgufMetadata metadata;
    private java.util.Map<String, Long> valueOffsets;

    private GgufWriter(AtomicFile out, List<GgufTensorSpec> tensors, int alignment) {
        this.out = out;
        this.channel = out.channel();
        this.tensors = tensors;
        this.alignment = alignment;
    }

    /** Creates the temporary file and writes the header; tensors follow through {@link #writeTensor} or {@link #beginTensor}. */
    public static GgufWriter create(Path target, GgufMetadata metadata, List<GgufTensorSpec> tensors) throws IOException {
        java.util.Map<String, Long> offsets = new java.util.HashMap<>();
        byte[] header = encodeHeader(metadata, tensors, offsets);
        AtomicFile out = AtomicFile.create(target);
        try {
            write(out.channel(), ByteBuffer.wrap(header));
            GgufWriter w = new GgufWriter(out, List.copyOf(tensors), metadata.alignment());
            w.metadata = new GgufMetadata(metadata);
            w.valueOffsets = offsets;
            return w;
        } catch (IOException | RuntimeException e) {
            out.close();
            throw e;
        }
    }

    /**
     * The header bytes: magic, version 3, counts, key/values in order, tensor infos, zero padding up to the data
     * section. Refuses what llama.cpp would refuse to read.
     */
    public static byte[] encodeHeader(GgufMetadata metadata, List<GgufTensorSpec> tensors) {
        return encodeHeader(metadata, tensors, null);
    }

    private static byte[] encodeHeader(GgufMetadata metadata, List<GgufTensorSpec> tensors, java.util.Map<String, Long> valueOffsets) {
        validate(metadata, tensors);
        int alignment = metadata.alignment();
        LittleEndianBuffer b = new LittleEndianBuffer();
        b.i32(GgufFile.MAGIC).i32(3).i64(tensors.size()).i64(metadata.size());
        for (var e : metadata.asMap().entrySet()) {
            b.ggufString(e.getKey());
            b.i32(e.getValue().type().id());
            if (valueOffsets != null) valueOffsets.put(e.getKey(), (long) b.size());
            writeValue(b, e.getValue());
        }
        long offset = 0;
        for (GgufTensorSpec t : tensors) {
            b.ggufString(t.name());
            b.i32(t.nDims());
            for (long d : t.ne()) b.i64(d);
            b.i32(t.type().id());
            b.i64(offset);
            offset += GgufFile.pad(t.byteSize(), alignment);
        }
        b.zeros((int) (GgufFile.pad(b.size(), alignment) - b.size()));
        return b.toByteArray();
    }

    private static void validate(GgufMetadata metadata, List<GgufTensorSpec> tensors) {
        metadata.get(GgufKeys.General.ALIGNMENT).ifPresent(a -> {
            if (a.type() != GgufValueType.UINT32 || a.asLong() == 0 || Long.bitCount(a.asLong()) != 1) {
                throw new IllegalArgumentException(GgufKeys.General.ALIGNMENT + " must be a UINT32 power of two, got " + a);
            }
        });
        for (var e : metadata.asMap().entrySet()) {
            if (e.getValue().type() == GgufValueType.ARRAY && e.getValue().asArray().containsNested()) {
                throw new IllegalArgumentException("key '" + e.getKey() + "' is a nested array; llama.cpp cannot read those");
            }
        }
        Set<String> names = new HashSet<>();
        for (GgufTensorSpec t : tensors) {
            if (!names.add(t.name())) throw new IllegalArgumentException("duplicate tensor name '" + t.name() + "'");
            int len = t.name().getBytes(java.nio.charset.StandardCharsets.UTF_8).length;
            if (len > GgufFile.MAX_NAME_BYTES) {
                throw new IllegalArgumentException("tensor name '" + t.name() + "' is " + len + " bytes, llama.cpp allows " + GgufFile.MAX_NAME_BYTES);
            }
            for (long d : t.ne()) {
                if (d <= 0) throw new IllegalArgumentException("tensor '" + t.name() + "' has a non-positive dimension");
            }
            if (t.type().removed()) throw new IllegalArgumentException("tensor '" + t.name() + "' has removed type " + t.type());
            t.byteSize(); // checks the row length against the block size
        }
    }

    private static void writeValue(LittleEndianBuffer b, GgufValue v) {
        switch (v.type()) {
            case UINT8, INT8 -> b.u8((int) v.asLong());
            case UINT16, INT16 -> b.i16((int) v.asLong());
            case UINT32, INT32 -> b.i32((int) v.asLong());
            case UINT64, INT64 -> b.i64(v.asLong());
            case FLOAT32 -> b.f32((Float) v.value());
            case FLOAT64 -> b.f64((Double) v.value());
            case BOOL -> b.u8(v.asBool() ? 1 : 0);
            case STRING -> b.ggufString(v.asString());
            case ARRAY -> {
                GgufArray a = v.asArray();
                b.i32(a.elementType().id());
                b.i64(a.length());
                writeElements(b, a);
            }
        }
    }

    private static void writeElements(LittleEndianBuffer b, GgufArray a) {
        switch (a.elementType()) {
            case UINT8, INT8 -> b.bytes(a.bytes());
            case BOOL -> { for (boolean x : a.bools()) b.u8(x ? 1 : 0); }
            case UINT16, INT16 -> { for (short x : a.shorts()) b.i16(x); }
            case UINT32, INT32 -> b.i32s(a.ints());
            case UINT64, INT64 -> { for (long x : a.longs()) b.i64(x); }
            case FLOAT32 -> b.f32s(a.floats());
            case FLOAT64 -> { for (double x : a.doubles()) b.f64(x); }
            case STRING -> b.ggufStrings(a.stringList());
            case ARRAY -> throw new IllegalArgumentException("nested arrays are not written");
        }
    }

    public Path target() { return out.target(); }

    /**
     * Replaces a key's value in the header already written, for statistics known only once the tensors are (how many
     * blocks a QAT lattice reproduced, say). The new value must have the same type and encoded size as the one the
     * header was written with, so no offset moves; strings and arrays therefore only of equal length.
     */
    public void updateValue(String key, GgufValue value) throws IOException {
        GgufValue old = metadata.get(key).orElseThrow(() -> new IllegalArgumentException("no key '" + key + "' in the header"));
        LittleEndianBuffer a = new LittleEndianBuffer(), b = new LittleEndianBuffer();
        writeValue(a, old);
        writeValue(b, value);
        if (old.type() != value.type() || a.size() != b.size()) {
            throw new IllegalArgumentException("'" + key + "': " + value.type() + " of " + b.size() + " bytes cannot replace "
                    + old.type() + " of " + a.size() + " bytes");
        }
        ByteBuffer buf = ByteBuffer.wrap(b.toByteArray());
        long pos = valueOffsets.get(key);
        while (buf.hasRemaining()) pos += channel.write(buf, pos);
        metadata.put(key, value);
    }

    /** The spec of the tensor expected next, or null when all are written. */
    public GgufTensorSpec nextTensor() { return next < tensors.size() ? tensors.get(next) : null; }

    /** Writes the next tensor whole from a segment (for example a slice of a mapped input file). */
    public void writeTensor(String name, MemorySegment data) throws IOException {
        try (TensorSink s = beginTensor(name)) {
            s.write(data);
        }
    }

    /** Starts the next tensor, which must be {@code name}; close the sink after writing exactly its byte size. */
    public TensorSink beginTensor(String name) throws IOException {
        if (open != null) throw new IllegalStateException("tensor '" + open.spec.name() + "' is still open");
        GgufTensorSpec spec = nextTensor();
        if (spec == null) throw new IllegalStateException("all " + tensors.size() + " tensors are already written");
        if (!spec.name().equals(name)) {
            throw new IllegalStateException("tensor '" + name + "' written out of order: '" + spec.name() + "' comes next");
        }
        open = new TensorSink(spec);
        return open;
    }

    /** Checks that every tensor was written, then syncs and renames the file into place. */
    public void commit() throws IOException {
        if (open != null) throw new IllegalStateException("tensor '" + open.spec.name() + "' is still open");
        if (next != tensors.size()) {
            throw new IllegalStateException("only " + next + " of " + tensors.size() + " tensors were written");
        }
        out.commit();
    }

    @Override
    public void close() throws IOException {
        out.close();
    }

    private static void write(FileChannel ch, ByteBuffer buf) throws IOException {
        while (buf.hasRemaining()) ch.write(buf);
    }

    /**
     * Receives one tensor's bytes in order; closing it checks the count and writes the padding. It is the
     * {@link EncoderSink} the block codecs' encoder writes to, so the codecs need not know the container.
     */
    public final class TensorSink implements EncoderSink {
        private final GgufTensorSpec spec;
        private final long size;
        private long written;
        private boolean closed;

        private TensorSink(GgufTensorSpec spec) {
            this.spec = spec;
            this.size = spec.byteSize();
        }

        public GgufTensorSpec spec() { return spec; }

        @Override
        public String name() { return spec.name(); }

        @Override
        public GgmlType type() { return spec.type(); }

        @Override
        public long remaining() { return size - written; }

        @Override
        public void write(ByteBuffer buf) throws IOException {
            account(buf.remaining());
            GgufWriter.write(channel, buf);
            writeBackNowAndThen();
        }

        public void write(MemorySegment seg) throws IOException {
            account(seg.byteSize());
            for (long off = 0; off < seg.byteSize(); off += COPY_CHUNK) {
                long n = Math.min(COPY_CHUNK, seg.byteSize() - off);
                GgufWriter.write(channel, seg.asSlice(off, n).asByteBuffer());
            }
            writeBackNowAndThen();
        }

        public void write(byte[] b, int off, int len) throws IOException {
            write(ByteBuffer.wrap(b, off, len));
        }

        /**
         * Copies {@code count} bytes of {@code src} from {@code position} with {@link FileChannel#transferTo}, which
         * on Linux copies inside the kernel (copy_file_range) instead of through user memory: the fast path for tensor
         * bytes that go into the GGUF unchanged.
         */
        public void transferFrom(FileChannel src, long position, long count) throws IOException {
            account(count);
            long done = 0;
            while (done < count) {
                long n = src.transferTo(position + done, count - done, channel);
                if (n <= 0) {
                    if (position + done >= src.size()) throw new java.io.EOFException("source ends before " + count + " bytes were copied");
                    continue;
                }
                done += n;
            }
            writeBackNowAndThen();
        }

        private void account(long n) {
            if (closed) throw new IllegalStateException("tensor '" + spec.name() + "' is closed");
            if (written + n > size) {
                throw new IllegalStateException("tensor '" + spec.name() + "' takes " + size + " bytes; " + (written + n) + " were written");
            }
            written += n;
            sinceWriteBack += n;
        }

        private void writeBackNowAndThen() {
            if (sinceWriteBack < WRITE_BACK_BYTES) return;
            sinceWriteBack = 0;
            out.writeBackInBackground();
        }

        @Override
        public void close() throws IOException {
            if (closed) return;
            closed = true;
            open = null;
            if (written != size) {
                throw new IllegalStateException("tensor '" + spec.name() + "' takes " + size + " bytes; only " + written + " were written");
            }
            int pad = (int) (GgufFile.pad(size, alignment) - size);
            if (pad > 0) GgufWriter.write(channel, ByteBuffer.allocate(pad));
            next++;
        }
    }
}
