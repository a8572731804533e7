package dev.requant.testmodels.hostile;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

/**
 * Where each field of a valid GGUF file's header lies, so that a case can corrupt exactly one of them: the counts, each
 * key/value (key length, type, value or array element type and count), each tensor info (name length, n_dims, ne,
 * type, offset) and the data section. Reads only files it can trust (the base inputs).
 */
public record GgufLayout(List<Kv> kvs, List<Tensor> tensors, long dataOffset, long fileSize) {
    public static final long N_TENSORS_AT = 8, N_KV_AT = 16;

    /** A key/value: offsets of its key length, its type id and its value (for arrays: the element type, then the count). */
    public record Kv(String key, long keyLengthAt, long typeAt, int type, long valueAt, long end) {
        public boolean isArray() { return type == 9; }

        public boolean isString() { return type == 8; }
    }

    /** A tensor info: offsets of its fields, its type, and the absolute offset and size of its data. */
    public record Tensor(String name, long nameLengthAt, long nDimsAt, long[] neAt, long typeAt, long offsetAt, long dataAt, long[] ne) {}

    public static GgufLayout of(Path file) throws IOException {
        byte[] bytes = Files.readAllBytes(file);
        ByteBuffer b = ByteBuffer.wrap(bytes).order(ByteOrder.LITTLE_ENDIAN);
        b.position(8);
        long nTensors = b.getLong();
        long nKv = b.getLong();
        List<Kv> kvs = new ArrayList<>();
        for (long i = 0; i < nKv; i++) {
            long keyAt = b.position();
            String key = string(b);
            long typeAt = b.position();
            int type = b.getInt();
            long valueAt = b.position();
            skipValue(b, type);
            kvs.add(new Kv(key, keyAt, typeAt, type, valueAt, b.position()));
        }
        int alignment = 32;
        List<Tensor> tensors = new ArrayList<>();
        List<long[]> offsets = new ArrayList<>();
        for (long i = 0; i < nTensors; i++) {
            long nameAt = b.position();
            String name = string(b);
            long dimsAt = b.position();
            int nDims = b.getInt();
            long[] neAt = new long[nDims];
            long[] ne = new long[nDims];
            for (int d = 0; d < nDims; d++) {
                neAt[d] = b.position();
                ne[d] = b.getLong();
            }
            long typeAt = b.position();
            b.getInt();
            long offsetAt = b.position();
            long offset = b.getLong();
            offsets.add(new long[] {offset});
            tensors.add(new Tensor(name, nameAt, dimsAt, neAt, typeAt, offsetAt, offset, ne));
        }
        long dataOffset = (b.position() + alignment - 1) / alignment * alignment;
        List<Tensor> absolute = new ArrayList<>();
        for (Tensor t : tensors) {
            absolute.add(new Tensor(t.name(), t.nameLengthAt(), t.nDimsAt(), t.neAt(), t.typeAt(), t.offsetAt(), dataOffset + t.dataAt(), t.ne()));
        }
        return new GgufLayout(List.copyOf(kvs), List.copyOf(absolute), dataOffset, bytes.length);
    }

    public Kv kv(String key) {
        return kvs.stream().filter(k -> k.key().equals(key)).findFirst().orElseThrow(() -> new IllegalArgumentException("no key " + key));
    }

    /** Where the last tensor's data ends: truncating the file anywhere before this must be refused. */
    public long lastDataEnd(long lastTensorBytes) {
        return tensors.getLast().dataAt() + lastTensorBytes;
    }

    private static String string(ByteBuffer b) {
        int n = (int) b.getLong();
        byte[] s = new byte[n];
        b.get(s);
        return new String(s, StandardCharsets.UTF_8);
    }

    private static void skipValue(ByteBuffer b, int type) {
        switch (type) {
            case 0, 1, 7 -> b.position(b.position() + 1);
            case 2, 3 -> b.position(b.position() + 2);
            case 4, 5, 6 -> b.position(b.position() + 4);
            case 10, 11, 12 -> b.position(b.position() + 8);
            case 8 -> string(b);
            case 9 -> {
                int elem = b.getInt();
                long n = b.getLong();
                for (long i = 0; i < n; i++) skipValue(b, elem);
            }
            default -> throw new IllegalArgumentException("value type " + type);
        }
    }
}
