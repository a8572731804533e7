package dev.requant.formats.io;

import dev.requant.formats.FormatException;
import java.lang.foreign.MemorySegment;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;

/**
 * A bounds-checked little-endian reader over a mapped file. Every read first checks that the bytes exist, and a
 * failure names the file, the offset and the field, so malformed input never reads out of bounds or surfaces as an
 * unchecked exception.
 */
public final class SegmentCursor {
    private final Path file;
    private final MemorySegment segment;
    private final long limit;
    private long position;

    public SegmentCursor(Path file, MemorySegment segment) {
        this.file = file;
        this.segment = segment;
        this.limit = segment.byteSize();
    }

    public Path file() { return file; }

    public long position() { return position; }

    public long limit() { return limit; }

    public long remaining() { return limit - position; }

    public void seek(long pos) { position = pos; }

    public FormatException error(long offset, String field, String problem) {
        return new FormatException(file, offset, field, problem);
    }

    /** Fails unless {@code n} more bytes exist. */
    public void need(long n, String field) throws FormatException {
        if (n < 0 || n > remaining()) {
            throw error(position, field, "truncated: needs " + n + " bytes, " + remaining() + " left in the file");
        }
    }

    public byte i8(String field) throws FormatException {
        need(1, field);
        return segment.get(LittleEndian.BYTE, position++);
    }

    public short i16(String field) throws FormatException {
        need(2, field);
        short v = segment.get(LittleEndian.SHORT, position);
        position += 2;
        return v;
    }

    public int i32(String field) throws FormatException {
        need(4, field);
        int v = segment.get(LittleEndian.INT, position);
        position += 4;
        return v;
    }

    public long i64(String field) throws FormatException {
        need(8, field);
        long v = segment.get(LittleEndian.LONG, position);
        position += 8;
        return v;
    }

    public float f32(String field) throws FormatException {
        return Float.intBitsToFloat(i32(field));
    }

    public double f64(String field) throws FormatException {
        return Double.longBitsToDouble(i64(field));
    }

    public byte[] bytes(long n, String field) throws FormatException {
        need(n, field);
        byte[] b = new byte[(int) n];
        MemorySegment.copy(segment, LittleEndian.BYTE, position, b, 0, (int) n);
        position += n;
        return b;
    }

    /**
     * Appends the next {@code n} bytes to {@code strings} as one string, unless they are not well-formed UTF-8: then
     * fails naming {@code field}, with the cursor at their start.
     */
    public void utf8(long n, String field, Utf8StringList.Builder strings) throws FormatException {
        need(n, field);
        if (n > Integer.MAX_VALUE - 8) throw error(position, field, "string of " + n + " bytes is too long");
        if (!strings.add(segment, position, (int) n)) throw error(position, field, "string is not valid UTF-8");
        position += n;
    }

    /** Strict UTF-8 of exactly {@code n} bytes ({@link Utf8StringList#wellFormed}). */
    public String utf8(long n, String field) throws FormatException {
        long start = position;
        if (n == 0) return "";  // one shared instance: a header of a million empty strings costs a million references
        if (n > Integer.MAX_VALUE - 8) throw error(start, field, "string of " + n + " bytes is too long");
        byte[] b = bytes(n, field);
        if (!Utf8StringList.wellFormed(b, 0, b.length)) throw error(start, field, "string is not valid UTF-8");
        return new String(b, StandardCharsets.UTF_8);
    }
}
