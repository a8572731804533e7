package dev.requant.formats.safetensors;

import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.JsonNodeFactory;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.requant.formats.io.AtomicFile;
import java.io.IOException;
import java.lang.foreign.MemorySegment;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.channels.FileChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;

/**
 * Streams a safetensors file: the header (padded with spaces to a multiple of 8, as the reference writer does) is
 * written first, then each tensor's bytes in declaration order. The file appears under its name only on commit.
 */
public final class SafetensorsWriter implements AutoCloseable {
    private static final int COPY_CHUNK = 64 << 20;

    /** A tensor to be written: name, dtype and row-major shape. */
    public record Spec(String name, SafetensorsDtype dtype, long[] shape) {
        public Spec {
            shape = shape.clone();
        }

        public long byteSize() {
            long n = dtype.size();
            for (long d : shape) n = Math.multiplyExact(n, d);
            return n;
        }

        @Override
        public long[] shape() { return shape.clone(); }

        @Override
        public boolean equals(Object o) {
            return o instanceof Spec s && s.name.equals(name) && s.dtype == dtype && Arrays.equals(s.shape, shape);
        }

        @Override
        public int hashCode() { return name.hashCode(); }
    }

    private final AtomicFile out;
    private final FileChannel channel;
    private final List<Spec> specs;
    private int next;

    private SafetensorsWriter(AtomicFile out, List<Spec> specs) {
        this.out = out;
        this.channel = out.channel();
        this.specs = specs;
    }

    public static SafetensorsWriter create(Path target, Map<String, String> metadata, List<Spec> specs) throws IOException {
        byte[] header = encodeHeader(metadata, specs);
        AtomicFile out = AtomicFile.create(target);
        try {
            ByteBuffer len = ByteBuffer.allocate(8).order(ByteOrder.LITTLE_ENDIAN).putLong(0, header.length);
            write(out.channel(), len);
            write(out.channel(), ByteBuffer.wrap(header));
            return new SafetensorsWriter(out, List.copyOf(specs));
        } catch (IOException | RuntimeException e) {
            out.close();
            throw e;
        }
    }

    static byte[] encodeHeader(Map<String, String> metadata, List<Spec> specs) {
        ObjectNode root = JsonNodeFactory.instance.objectNode();
        if (metadata != null && !metadata.isEmpty()) {
            ObjectNode m = root.putObject("__metadata__");
            metadata.forEach(m::put);
        }
        Set<String> names = new HashSet<>();
        long offset = 0;
        for (Spec s : specs) {
            if (s.name().equals("__metadata__") || !names.add(s.name())) {
                throw new IllegalArgumentException("duplicate or reserved tensor name '" + s.name() + "'");
            }
            ObjectNode t = root.putObject(s.name());
            t.put("dtype", s.dtype().name());
            ArrayNode shape = t.putArray("shape");
            for (long d : s.shape()) shape.add(d);
            ArrayNode off = t.putArray("data_offsets");
            long size = s.byteSize();
            off.add(offset).add(offset + size);
            offset += size;
        }
        byte[] json = root.toString().getBytes(StandardCharsets.UTF_8);
        int padded = (json.length + 7) & ~7;
        byte[] out = Arrays.copyOf(json, padded);
        Arrays.fill(out, json.length, padded, (byte) ' ');
        return out;
    }

    /** Writes the next tensor's bytes, which must be exactly its size. */
    public void write(String name, MemorySegment data) throws IOException {
        if (next >= specs.size()) throw new IllegalStateException("all tensors are already written");
        Spec s = specs.get(next);
        if (!s.name().equals(name)) throw new IllegalStateException("tensor '" + name + "' out of order: '" + s.name() + "' comes next");
        if (data.byteSize() != s.byteSize()) {
            throw new IllegalStateException("tensor '" + name + "' takes " + s.byteSize() + " bytes, got " + data.byteSize());
        }
        for (long off = 0; off < data.byteSize(); off += COPY_CHUNK) {
            write(channel, data.asSlice(off, Math.min(COPY_CHUNK, data.byteSize() - off)).asByteBuffer());
        }
        next++;
    }

    public void write(String name, byte[] data) throws IOException {
        write(name, MemorySegment.ofArray(data));
    }

    /**
     * Starts the next tensor, which must be {@code name}, for writing in pieces (a tensor larger than memory); close
     * the sink after exactly its byte size.
     */
    public TensorSink beginTensor(String name) throws IOException {
        if (next >= specs.size()) throw new IllegalStateException("all tensors are already written");
        Spec s = specs.get(next);
        if (!s.name().equals(name)) throw new IllegalStateException("tensor '" + name + "' out of order: '" + s.name() + "' comes next");
        return new TensorSink(s);
    }

    /** Receives one tensor's bytes in order; closing it checks the count. */
    public final class TensorSink implements AutoCloseable {
        private final Spec spec;
        private long written;
        private boolean closed;

        private TensorSink(Spec spec) {
            this.spec = spec;
        }

        public void write(ByteBuffer buf) throws IOException {
            account(buf.remaining());
            SafetensorsWriter.write(channel, buf);
        }

        public void write(MemorySegment seg) throws IOException {
            account(seg.byteSize());
            for (long off = 0; off < seg.byteSize(); off += COPY_CHUNK) {
                SafetensorsWriter.write(channel, seg.asSlice(off, Math.min(COPY_CHUNK, seg.byteSize() - off)).asByteBuffer());
            }
        }

        private void account(long n) {
            if (closed) throw new IllegalStateException("tensor '" + spec.name() + "' is closed");
            if (written + n > spec.byteSize()) {
                throw new IllegalStateException("tensor '" + spec.name() + "' takes " + spec.byteSize() + " bytes; " + (written + n) + " were written");
            }
            written += n;
        }

        @Override
        public void close() {
            if (closed) return;
            closed = true;
            if (written != spec.byteSize()) {
                throw new IllegalStateException("tensor '" + spec.name() + "' takes " + spec.byteSize() + " bytes; only " + written + " were written");
            }
            next++;
        }
    }

    public void commit() throws IOException {
        if (next != specs.size()) throw new IllegalStateException("only " + next + " of " + specs.size() + " tensors were written");
        out.commit();
    }

    @Override
    public void close() throws IOException { out.close(); }

    private static void write(FileChannel ch, ByteBuffer b) throws IOException {
        while (b.hasRemaining()) ch.write(b);
    }
}
