package dev.requant.formats.io;

import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.charset.StandardCharsets;
import java.util.AbstractList;
import java.util.Arrays;
import java.util.List;
import java.util.Objects;
import java.util.RandomAccess;

/**
 * An immutable list of strings held as their UTF-8 bytes, all in one array, each decoded only when it is read. A
 * vocabulary goes from a tokenizer.model or a GGUF file into a GGUF header as bytes: as String objects, its 262,144
 * tokens were each decoded and encoded again, about 0.3 s of a conversion's start, where the JVM runs that code
 * interpreted or barely compiled (BENCHMARKS.md, "Start-up of the QAT conversion").
 */
public final class Utf8StringList extends AbstractList<String> implements RandomAccess {
    private final byte[] bytes;
    /** Element i is {@code bytes[ends[i - 1] .. ends[i])}, with ends[-1] = 0. */
    private final int[] ends;

    private Utf8StringList(byte[] bytes, int[] ends) {
        this.bytes = bytes;
        this.ends = ends;
    }

    /** The strings of {@code strings}, encoded; the list itself if it is one already. */
    public static Utf8StringList of(List<String> strings) {
        if (strings instanceof Utf8StringList l) return l;
        Builder b = new Builder(strings.size(), 8L * strings.size());
        for (String s : strings) b.add(s);
        return b.build();
    }

    public static Utf8StringList of(String... strings) {
        return of(Arrays.asList(strings));
    }

    @Override
    public int size() { return ends.length; }

    @Override
    public String get(int i) {
        int n = byteLength(i);
        return n == 0 ? "" : new String(bytes, start(i), n, StandardCharsets.UTF_8); // one instance for all empty ones
    }

    private int start(int i) {
        return i == 0 ? 0 : ends[i - 1];
    }

    /** The length of element {@code i} in UTF-8 bytes. */
    public int byteLength(int i) {
        Objects.checkIndex(i, ends.length);
        return ends[i] - start(i);
    }

    /** The UTF-8 bytes of every element, in order, with nothing between them. */
    public int totalBytes() {
        return ends.length == 0 ? 0 : ends[ends.length - 1];
    }

    /** Element for element as {@link List#equals}; two of these compare their bytes. */
    @Override
    public boolean equals(Object o) {
        if (o instanceof Utf8StringList l) {
            return Arrays.equals(ends, l.ends) && Arrays.equals(bytes, 0, totalBytes(), l.bytes, 0, l.totalBytes());
        }
        return super.equals(o);
    }

    @Override
    public int hashCode() { return super.hashCode(); }

    /** Copies element {@code i}'s UTF-8 bytes to {@code dst} at {@code offset}. */
    public void copyBytes(int i, byte[] dst, int offset) {
        System.arraycopy(bytes, start(i), dst, offset, byteLength(i));
    }

    /**
     * Whether {@code b[off .. off+len)} is well-formed UTF-8 (the Unicode standard's table 3-7: no overlong forms, no
     * surrogates, nothing past U+10FFFF), which is what a strict {@link java.nio.charset.CharsetDecoder} accepts. It
     * decodes nothing: a file's strings are checked without building them.
     */
    public static boolean wellFormed(byte[] b, int off, int len) {
        int i = off, end = off + len;
        while (i < end) {
            int c = b[i];
            if (c >= 0) {
                i++;
                continue;
            }
            c &= 0xFF;
            int n = c < 0xC2 ? 0 : c < 0xE0 ? 1 : c < 0xF0 ? 2 : c < 0xF5 ? 3 : 0;
            if (n == 0 || end - i <= n) return false;
            int c1 = b[i + 1] & 0xFF;
            // the second byte's range is narrower after E0 (overlong), ED (surrogates), F0 (overlong), F4 (> U+10FFFF)
            int lo = c == 0xE0 ? 0xA0 : c == 0xF0 ? 0x90 : 0x80;
            int hi = c == 0xED ? 0x9F : c == 0xF4 ? 0x8F : 0xBF;
            if (c1 < lo || c1 > hi) return false;
            for (int k = 2; k <= n; k++) if ((b[i + k] & 0xC0) != 0x80) return false;
            i += n + 1;
        }
        return true;
    }

    /** Appends strings, as UTF-8 bytes, to one growing array. */
    public static final class Builder {
        private byte[] bytes;
        private int[] ends;
        private int size;

        /** Room for {@code count} strings of {@code byteCount} bytes in all before anything grows. */
        public Builder(int count, long byteCount) {
            ends = new int[Math.max(count, 4)];
            bytes = new byte[(int) Math.min(Integer.MAX_VALUE - 8, Math.max(byteCount, 16))];
        }

        public Builder add(String s) {
            byte[] b = s.getBytes(StandardCharsets.UTF_8);
            return add(b, 0, b.length);
        }

        /** Appends {@code b[off .. off+len)}, which the caller has found well-formed ({@link #wellFormed}). */
        public Builder add(byte[] b, int off, int len) {
            int at = room(1, len);
            System.arraycopy(b, off, bytes, at, len);
            ends[size++] = at + len;
            return this;
        }

        /**
         * Appends {@code src[offset .. offset+len)} if it is well-formed UTF-8 and returns true; returns false and
         * appends nothing if it is not.
         */
        public boolean add(MemorySegment src, long offset, int len) {
            int at = room(1, len);
            MemorySegment.copy(src, ValueLayout.JAVA_BYTE, offset, bytes, at, len);
            if (!wellFormed(bytes, at, len)) return false;
            ends[size++] = at + len;
            return true;
        }

        /** Appends elements {@code from .. to} of {@code list}, bytes copied as one run. */
        public Builder addAll(Utf8StringList list, int from, int to) {
            Objects.checkFromToIndex(from, to, list.size());
            if (from == to) return this;
            int first = list.start(from), len = list.ends[to - 1] - first;
            int at = room(to - from, len);
            System.arraycopy(list.bytes, first, bytes, at, len);
            int shift = at - first;
            for (int i = from; i < to; i++) ends[size++] = list.ends[i] + shift;
            return this;
        }

        /** Where the next {@code len} bytes go, with room for {@code count} more ends. */
        private int room(int count, int len) {
            int at = size == 0 ? 0 : ends[size - 1];
            if (size + count > ends.length) ends = Arrays.copyOf(ends, Math.max(size + count, 2 * ends.length));
            long need = (long) at + len;
            if (need > Integer.MAX_VALUE - 8) throw new IllegalStateException("strings of more than 2 GiB in all");
            if (need > bytes.length) bytes = Arrays.copyOf(bytes, (int) Math.min(Integer.MAX_VALUE - 8, Math.max(need, 2L * bytes.length)));
            return at;
        }

        public int size() { return size; }

        /** Drops the string added last. */
        public void removeLast() {
            if (size == 0) throw new java.util.NoSuchElementException();
            size--;
        }

        public Utf8StringList build() {
            int total = size == 0 ? 0 : ends[size - 1];
            return new Utf8StringList(total == bytes.length ? bytes : Arrays.copyOf(bytes, total), Arrays.copyOf(ends, size));
        }
    }
}
