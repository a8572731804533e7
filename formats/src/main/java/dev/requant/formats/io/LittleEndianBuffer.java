package dev.requant.formats.io;

import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.util.Arrays;

/** A growable little-endian byte buffer for headers that are assembled in memory before they are written. */
public final class LittleEndianBuffer {
    private byte[] data = new byte[4096];
    private int size;

    /** The largest byte[] the JVM allocates. */
    private static final int MAX_SIZE = Integer.MAX_VALUE - 8;

    /**
     * Room for {@code extra} more bytes, doubling (so n appends cost O(n) copies). In long arithmetic: with int, the
     * doubling of a buffer past 1 GiB overflowed to a negative size and every later append copied the whole array.
     */
    private void ensure(int extra) {
        long need = (long) size + extra;
        if (need <= data.length) return;
        if (need > MAX_SIZE) throw new IllegalStateException("buffer of " + need + " bytes exceeds the 2 GiB a Java array holds");
        data = Arrays.copyOf(data, (int) Math.min(MAX_SIZE, Math.max(need, 2L * data.length)));
    }

    public LittleEndianBuffer u8(int v) {
        ensure(1);
        data[size++] = (byte) v;
        return this;
    }

    public LittleEndianBuffer i16(int v) {
        ensure(2);
        data[size++] = (byte) v;
        data[size++] = (byte) (v >>> 8);
        return this;
    }

    public LittleEndianBuffer i32(int v) {
        ensure(4);
        for (int i = 0; i < 4; i++) data[size++] = (byte) (v >>> (8 * i));
        return this;
    }

    public LittleEndianBuffer i64(long v) {
        ensure(8);
        for (int i = 0; i < 8; i++) data[size++] = (byte) (v >>> (8 * i));
        return this;
    }

    public LittleEndianBuffer f32(float v) { return i32(Float.floatToRawIntBits(v)); }

    /**
     * Every element as {@link #i32} writes it, in one bulk copy: a vocabulary's token types and scores are 262,144
     * values each, and a loop of calls runs interpreted when the header is written at a command's start.
     */
    public LittleEndianBuffer i32s(int[] v) {
        ensure(Math.multiplyExact(4, v.length));
        ByteBuffer.wrap(data, size, 4 * v.length).order(ByteOrder.LITTLE_ENDIAN).asIntBuffer().put(v);
        size += 4 * v.length;
        return this;
    }

    /** Every element as {@link #f32} writes it (its raw bits, NaN payloads kept), in one bulk copy. */
    public LittleEndianBuffer f32s(float[] v) {
        ensure(Math.multiplyExact(4, v.length));
        ByteBuffer.wrap(data, size, 4 * v.length).order(ByteOrder.LITTLE_ENDIAN).asFloatBuffer().put(v);
        size += 4 * v.length;
        return this;
    }

    public LittleEndianBuffer f64(double v) { return i64(Double.doubleToRawLongBits(v)); }

    public LittleEndianBuffer bytes(byte[] b) {
        ensure(b.length);
        System.arraycopy(b, 0, data, size, b.length);
        size += b.length;
        return this;
    }

    /** uint64 length followed by the UTF-8 bytes (the GGUF string encoding). */
    public LittleEndianBuffer ggufString(String s) {
        byte[] b = s.getBytes(StandardCharsets.UTF_8);
        i64(b.length);
        return bytes(b);
    }

    /** Each element as {@link #ggufString} writes it, the bytes copied as they are held. */
    public LittleEndianBuffer ggufStrings(Utf8StringList strings) {
        int n = strings.size();
        ensure(Math.toIntExact(8L * n + strings.totalBytes()));
        for (int i = 0; i < n; i++) {
            int len = strings.byteLength(i);
            i64(len);
            strings.copyBytes(i, data, size);
            size += len;
        }
        return this;
    }

    public LittleEndianBuffer zeros(int n) {
        ensure(n);
        size += n; // the array is zero-filled beyond size
        return this;
    }

    public int size() { return size; }

    public byte[] toByteArray() { return Arrays.copyOf(data, size); }

    public ByteBuffer asByteBuffer() { return ByteBuffer.wrap(data, 0, size).order(ByteOrder.LITTLE_ENDIAN); }
}
