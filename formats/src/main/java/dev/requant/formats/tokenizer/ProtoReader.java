package dev.requant.formats.tokenizer;

import dev.requant.formats.FormatException;
import dev.requant.formats.io.Utf8StringList;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;

/**
 * The protobuf wire format, just enough to read a SentencePiece {@code ModelProto}: varints, fixed32/fixed64 and
 * length-delimited fields, and skipping of unknown fields by wire type. Every read is bounds-checked; errors name the
 * file, the byte offset and the field being read.
 */
final class ProtoReader {
    static final int VARINT = 0;
    static final int FIXED64 = 1;
    static final int LEN = 2;
    static final int FIXED32 = 5;

    private final Path file;
    private final byte[] buf;
    private final int end;
    private int pos;
    /**
     * Where this reader's message sits, for errors: {@code path}, or {@code path[index]} where index >= 0; the field
     * names given to the reads follow it. Kept in parts so that reading a vocabulary of 262,144 pieces builds none of
     * their names unless one is wrong.
     */
    private final String path;
    private final int index;

    ProtoReader(Path file, byte[] buf) {
        this(file, buf, 0, buf.length, null, -1);
    }

    private ProtoReader(Path file, byte[] buf, int start, int end, String path, int index) {
        this.file = file;
        this.buf = buf;
        this.pos = start;
        this.end = end;
        this.path = path;
        this.index = index;
    }

    boolean hasMore() { return pos < end; }

    int position() { return pos; }

    /** An error at byte {@code at} reading {@code field} of this message ("" for the message itself). */
    FormatException error(int at, String field, String problem) {
        return error(at, field, -1, problem);
    }

    /** {@link #error(int, String, String)} for element {@code element} of a repeated field ({@code field[element]}); -1: none. */
    private FormatException error(int at, String field, int element, String problem) {
        String named = name(path, index, field);
        return new FormatException(file, at, element < 0 ? named : name(named, element, ""), problem);
    }

    private static String name(String path, int index, String field) {
        if (path == null) return field;
        String message = index < 0 ? path : path + "[" + index + "]";
        return field.isEmpty() ? message : message + "." + field;
    }

    /** The next field key: {@code (field << 3) | wireType}. */
    int key(String field) throws FormatException {
        int at = pos;
        long k = varint(field);
        if (k <= 0 || k > Integer.MAX_VALUE) throw error(at, field, "invalid protobuf field key " + k);
        return (int) k;
    }

    long varint(String field) throws FormatException {
        return varint(field, -1);
    }

    private long varint(String field, int element) throws FormatException {
        int at = pos;
        long result = 0;
        for (int shift = 0; shift < 64; shift += 7) {
            if (pos >= end) throw error(at, field, element, "truncated varint");
            int b = buf[pos++] & 0xFF;
            result |= (long) (b & 0x7F) << shift;
            if ((b & 0x80) == 0) return result;
        }
        throw error(at, field, element, "varint longer than 10 bytes");
    }

    /** An int32 field: negative values are sign-extended 10-byte varints. */
    int int32(String field) throws FormatException {
        return (int) varint(field);
    }

    boolean bool(String field) throws FormatException {
        return varint(field) != 0;
    }

    int fixed32(String field) throws FormatException {
        need(4, field);
        int v = (buf[pos] & 0xFF) | (buf[pos + 1] & 0xFF) << 8 | (buf[pos + 2] & 0xFF) << 16 | (buf[pos + 3] & 0xFF) << 24;
        pos += 4;
        return v;
    }

    float float32(String field) throws FormatException {
        return Float.intBitsToFloat(fixed32(field));
    }

    /** A length-delimited field as a reader over its bytes (its reads name their fields in full). */
    ProtoReader message(String field) throws FormatException {
        int n = length(field, -1);
        ProtoReader r = new ProtoReader(file, buf, pos, pos + n, null, -1);
        pos += n;
        return r;
    }

    /**
     * The {@code index}-th element of a repeated message field: its reads give only their own field names, and errors
     * name them {@code field[index].name} ({@code field[index]} for "").
     */
    ProtoReader message(String field, int index) throws FormatException {
        int n = length(field, index);
        ProtoReader r = new ProtoReader(file, buf, pos, pos + n, name(path, this.index, field), index);
        pos += n;
        return r;
    }

    /** A UTF-8 string field; malformed UTF-8 is an error ({@link Utf8StringList#wellFormed}). */
    String string(String field) throws FormatException {
        int start = stringBytes(field);
        return new String(buf, start, pos - start, StandardCharsets.UTF_8);
    }

    /** A UTF-8 string field appended to {@code strings} as its bytes, checked as {@link #string} checks it. */
    void string(String field, Utf8StringList.Builder strings) throws FormatException {
        int start = stringBytes(field);
        strings.add(buf, start, pos - start);
    }

    /** Moves past a string field whose bytes are well-formed UTF-8 (else fails); returns where its bytes start. */
    private int stringBytes(String field) throws FormatException {
        int at = pos;
        int n = length(field, -1);
        if (!Utf8StringList.wellFormed(buf, pos, n)) throw error(at, field, "string is not valid UTF-8");
        pos += n;
        return pos - n;
    }

    /** Skips a field of the given wire type (groups, wire types 3 and 4, are not used by sentencepiece). */
    void skip(int wireType, String field) throws FormatException {
        switch (wireType) {
            case VARINT -> varint(field);
            case FIXED64 -> { need(8, field); pos += 8; }
            case LEN -> { int n = length(field, -1); pos += n; }
            case FIXED32 -> { need(4, field); pos += 4; }
            default -> throw error(pos, field, "unsupported protobuf wire type " + wireType);
        }
    }

    /** The length of a length-delimited field; {@code element} >= 0 names errors {@code field[element]}. */
    private int length(String field, int element) throws FormatException {
        int at = pos;
        long n = varint(field, element);
        if (n < 0 || n > end - pos) {
            throw error(at, field, element, "length " + n + " runs past the end of its message (" + (end - pos) + " bytes left)");
        }
        return (int) n;
    }

    private void need(int n, String field) throws FormatException {
        if (end - pos < n) throw error(pos, field, "truncated: needs " + n + " bytes, " + (end - pos) + " left");
    }
}
