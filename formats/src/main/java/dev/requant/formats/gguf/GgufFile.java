package dev.requant.formats.gguf;

import dev.requant.formats.FormatException;
import dev.requant.formats.ggml.GgmlType;
import dev.requant.formats.io.MappedFile;
import dev.requant.formats.io.SegmentCursor;
import dev.requant.formats.io.Utf8StringList;
import java.io.IOException;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Collections;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;

/**
 * A GGUF v2/v3 file, memory-mapped once; tensors are slices of the mapping. Opening parses and validates the header
 * (key/values and tensor infos) as strictly as llama.cpp's gguf_init_from_file (ggml/src/gguf.cpp) and never touches
 * tensor data, so it costs the same for a 10 MB file and a 100 GB one.
 *
 * <pre>
 * uint32 magic "GGUF"; uint32 version; int64 n_tensors; int64 n_kv;
 * kv[n_kv]; tensor_info[n_tensors]; zero padding to ALIGNMENT; tensor data (each tensor padded to ALIGNMENT)
 * </pre>
 */
public final class GgufFile implements GgufTensors, AutoCloseable {
    public static final int MAGIC = 0x46554747; // "GGUF" read as a little-endian uint32
    public static final int MAX_DIMS = 4;
    /** GGML_MAX_NAME is 64 including the terminating NUL. */
    public static final int MAX_NAME_BYTES = 63;
    /** GGUF_MAX_STRING_LENGTH in gguf.cpp. */
    static final long MAX_STRING_BYTES = 1L << 30;
    /** gguf.cpp refuses arrays of more than 2^30 elements. */
    static final long MAX_ARRAY_ELEMENTS = 1L << 30;

    // requant's own limits on what a header may make it hold in memory (docs/limits.md). The file format allows far
    // more (2^63 keys, 1 GiB strings, 2^30 elements per array), and every value is kept in the heap, so without them a
    // few hundred MB of file could ask for many GB of heap. Real models are far below: Gemma 3's header is ~5 MB, 40
    // keys and 0.8 M array elements (its vocabulary three times over).
    /** Key/value pairs in one header. */
    public static final long MAX_KEYS = 65_536;
    /** Bytes of the key/value section (keys, strings, arrays). */
    public static final long MAX_METADATA_BYTES = 256L << 20;
    /** Array elements over all keys (a string element costs a Java object, several times its encoded size). */
    public static final long MAX_METADATA_ELEMENTS = 8L << 20;
    /**
     * Nesting depth of arrays of arrays (gguf-py writes them, llama.cpp reads none): the parser recurses once per
     * level, so an unbounded depth is a stack overflow for a file of a few MB.
     */
    public static final int MAX_ARRAY_DEPTH = 8;

    /** What the rest of the header may still use of {@link #MAX_METADATA_BYTES} and {@link #MAX_METADATA_ELEMENTS}. */
    private static final class Budget {
        long bytes = MAX_METADATA_BYTES;
        long elements = MAX_METADATA_ELEMENTS;

        void spendElements(SegmentCursor in, long at, String field, long n) throws FormatException {
            if (n > elements) {
                throw in.error(at, field, "array elements exceed requant's limit of " + MAX_METADATA_ELEMENTS
                        + " in one header (docs/limits.md); this array has " + n);
            }
            elements -= n;
        }

        void spendBytes(SegmentCursor in, long at, String field, long n) throws FormatException {
            if (n > bytes) {
                throw in.error(at, field, "metadata exceeds requant's limit of " + (MAX_METADATA_BYTES >> 20)
                        + " MiB (docs/limits.md): this value needs " + n + " bytes");
            }
            bytes -= n;
        }
    }

    private final Path path;
    private final Arena arena;
    private final MemorySegment mapping;
    private final int version;
    private final GgufMetadata metadata;
    private final List<GgufTensorInfo> tensors;
    private final Map<String, GgufTensorInfo> byName;
    private final int alignment;
    private final long dataOffset;

    private GgufFile(Path path, Arena arena, MemorySegment mapping, int version, GgufMetadata metadata,
                     List<GgufTensorInfo> tensors, int alignment, long dataOffset) {
        this.path = path;
        this.arena = arena;
        this.mapping = mapping;
        this.version = version;
        this.metadata = metadata;
        this.tensors = Collections.unmodifiableList(tensors);
        this.alignment = alignment;
        this.dataOffset = dataOffset;
        Map<String, GgufTensorInfo> m = new HashMap<>();
        for (GgufTensorInfo t : tensors) m.put(t.name(), t);
        this.byName = m;
    }

    /** Maps and parses a file. The mapping is shared, so slices can be read from several threads. */
    public static GgufFile open(Path path) throws IOException {
        return MappedFile.open(path, "GGUF file", GgufFile::parse);
    }

    /** Parses a file held in memory (tests); the segment must outlive the result. */
    public static GgufFile parse(Path nameForErrors, MemorySegment segment) throws FormatException {
        return parse(nameForErrors, null, segment);
    }

    private static GgufFile parse(Path path, Arena arena, MemorySegment seg) throws FormatException {
        SegmentCursor in = new SegmentCursor(path, seg);
        if (in.remaining() < 4) throw in.error(0, "magic", "not a GGUF file: only " + in.remaining() + " bytes");
        int magic = in.i32("magic");
        if (magic != MAGIC) {
            throw in.error(0, "magic", String.format("not a GGUF file: magic is 0x%08x, expected 0x%08x (\"GGUF\")", magic, MAGIC));
        }
        int version = in.i32("version");
        if (version == 0) throw in.error(4, "version", "GGUF version 0 is invalid");
        if ((version & 0xFFFF) == 0) {
            throw in.error(4, "version", String.format("version 0x%08x looks byte-swapped: big-endian GGUF is not supported", version));
        }
        if (version == 1) throw in.error(4, "version", "GGUF version 1 is not supported (use a v2 or v3 file)");
        if (version < 0 || version > 3) throw in.error(4, "version", "GGUF version " + Integer.toUnsignedString(version) + " is newer than 3, not supported");

        long nTensors = in.i64("n_tensors");
        // Smallest tensor info: empty name (8) + n_dims (4) + type (4) + offset (8).
        if (nTensors < 0 || nTensors > in.remaining() / 24) {
            throw in.error(8, "n_tensors", "tensor count " + nTensors + " cannot fit in the file (" + in.remaining() + " bytes left)");
        }
        long nKv = in.i64("n_kv");
        // Smallest key/value: key length (8) + 1 key byte + type (4) + 1 value byte.
        if (nKv < 0 || nKv > in.remaining() / 14) {
            throw in.error(16, "n_kv", "key/value count " + nKv + " cannot fit in the file (" + in.remaining() + " bytes left)");
        }
        if (nKv > MAX_KEYS) {
            throw in.error(16, "n_kv", "key/value count " + nKv + " exceeds requant's limit of " + MAX_KEYS + " (docs/limits.md)");
        }

        GgufMetadata metadata = new GgufMetadata();
        Budget budget = new Budget();
        for (long i = 0; i < nKv; i++) {
            String field = "kv[" + i + "]";
            long keyAt = in.position();
            String key = readString(in, field + ".key", budget);
            if (key.isEmpty()) throw in.error(keyAt, field + ".key", "empty key");
            if (metadata.contains(key)) throw in.error(keyAt, field + ".key", "duplicate key '" + key + "'");
            String valueField = field + " '" + key + "'";
            long typeAt = in.position();
            int typeId = in.i32(valueField + ".type");
            GgufValueType type = GgufValueType.byId(typeId)
                    .orElseThrow(() -> in.error(typeAt, valueField + ".type", "unknown value type " + typeId));
            metadata.put(key, readValue(in, type, valueField, budget));
        }

        int alignment = GgufMetadata.DEFAULT_ALIGNMENT;
        Optional<GgufValue> align = metadata.get(GgufKeys.General.ALIGNMENT);
        if (align.isPresent()) {
            GgufValue a = align.get();
            if (a.type() != GgufValueType.UINT32) {
                throw in.error(-1, GgufKeys.General.ALIGNMENT, GgufKeys.General.ALIGNMENT + " must be UINT32, found " + a.type());
            }
            long v = a.asLong();
            if (v == 0 || Long.bitCount(v) != 1) {
                throw in.error(-1, GgufKeys.General.ALIGNMENT, GgufKeys.General.ALIGNMENT + " " + v + " is not a power of two");
            }
            alignment = (int) v;
        }

        List<GgufTensorInfo> tensors = new ArrayList<>((int) nTensors);
        Map<String, Long> seen = new HashMap<>();
        for (long i = 0; i < nTensors; i++) {
            String field = "tensor_info[" + i + "]";
            long nameAt = in.position();
            long nameBytes = in.i64(field + ".name.length");
            in.seek(nameAt);
            if (nameBytes > MAX_NAME_BYTES && nameBytes <= in.remaining()) {
                // refused before the name is read: a tensor name of 1 GiB must not become a 1 GiB String first
                throw in.error(nameAt, field + ".name", "tensor name is " + nameBytes + " bytes, llama.cpp allows " + MAX_NAME_BYTES);
            }
            String name = readString(in, field + ".name", null);
            if (seen.putIfAbsent(name, i) != null) {
                throw in.error(nameAt, field + ".name", "duplicate tensor name '" + name + "'");
            }
            String tf = field + " '" + name + "'";
            long dimsAt = in.position();
            int nDims = in.i32(tf + ".n_dims");
            if (nDims < 0 || nDims > MAX_DIMS) {
                throw in.error(dimsAt, tf + ".n_dims", "n_dims " + Integer.toUnsignedString(nDims) + " is more than " + MAX_DIMS);
            }
            long[] ne = new long[nDims];
            long elements = 1;
            for (int d = 0; d < nDims; d++) {
                long at = in.position();
                ne[d] = in.i64(tf + ".ne[" + d + "]");
                if (ne[d] <= 0) throw in.error(at, tf + ".ne[" + d + "]", "dimension " + d + " is " + ne[d] + ", must be positive");
                try {
                    elements = Math.multiplyExact(elements, ne[d]);
                } catch (ArithmeticException e) {
                    throw in.error(at, tf + ".ne[" + d + "]", "element count overflows 64 bits");
                }
            }
            long typeAt = in.position();
            int typeId = in.i32(tf + ".type");
            GgmlType type = GgmlType.byId(typeId)
                    .orElseThrow(() -> in.error(typeAt, tf + ".type", "unknown GGML type id " + typeId));
            if (type.removed()) {
                throw in.error(typeAt, tf + ".type", "GGML type " + typeId + " (" + type.ggmlName() + ") was removed from ggml");
            }
            long rowLen = nDims == 0 ? 1 : ne[0];
            if (rowLen % type.blockSize() != 0) {
                throw in.error(typeAt, tf + ".type", "row length " + rowLen + " is not a multiple of the " + type.ggmlName() + " block size " + type.blockSize());
            }
            long offsetAt = in.position();
            long offset = in.i64(tf + ".offset");
            GgufTensorSpec spec = new GgufTensorSpec(name, type, ne);
            try {
                spec.byteSize();
            } catch (ArithmeticException e) {
                throw in.error(offsetAt, tf, "byte size overflows 64 bits");
            }
            tensors.add(new GgufTensorInfo(spec, offset));
        }

        long headerEnd = in.position();
        long dataOffset = pad(headerEnd, alignment);
        if (nTensors > 0 && dataOffset > in.limit()) {
            throw in.error(headerEnd, "data", "data section would start at byte " + dataOffset + ", past the end of the file (" + in.limit() + " bytes)");
        }
        long expected = 0;
        for (int i = 0; i < tensors.size(); i++) {
            GgufTensorInfo t = tensors.get(i);
            String tf = "tensor_info[" + i + "] '" + t.name() + "'.offset";
            if (t.offset() != expected) {
                String why;
                if (t.offset() < 0) why = "offset " + Long.toUnsignedString(t.offset()) + " is out of range";
                else if (t.offset() % alignment != 0) why = "offset " + t.offset() + " is not aligned to " + alignment;
                else if (t.offset() < expected) why = "offset " + t.offset() + " overlaps the previous tensor (expected " + expected + ")";
                else why = "offset " + t.offset() + " is not llama.cpp's running offset " + expected;
                throw in.error(-1, tf, "tensor '" + t.name() + "': " + why);
            }
            long size = t.byteSize();
            long end;
            try {
                end = Math.addExact(Math.addExact(dataOffset, t.offset()), size);
                expected = Math.addExact(expected, pad(size, alignment));
            } catch (ArithmeticException e) {
                throw in.error(-1, tf, "tensor '" + t.name() + "': data range overflows 64 bits");
            }
            if (end > in.limit()) {
                throw in.error(dataOffset + t.offset(), tf, "tensor '" + t.name() + "' data ends at byte " + end + ", past the end of the file (" + in.limit() + " bytes)");
            }
        }
        return new GgufFile(path, arena, seg, version, metadata, tensors, alignment, dataOffset);
    }

    public static long pad(long x, long alignment) {
        return Math.addExact(x, alignment - 1) & -alignment;
    }

    /** A string; {@code budget} is null for tensor names, whose length the caller limits. */
    private static String readString(SegmentCursor in, String field, Budget budget) throws FormatException {
        return in.utf8(stringLength(in, field, budget), field);
    }

    /** A string of an array, appended to {@code strings} as its bytes. */
    private static void readString(SegmentCursor in, String field, Budget budget, Utf8StringList.Builder strings) throws FormatException {
        in.utf8(stringLength(in, field, budget), field, strings);
    }

    /** A string's length, checked against GGUF's limit, the file and {@code budget} (null: none). */
    private static long stringLength(SegmentCursor in, String field, Budget budget) throws FormatException {
        long at = in.position();
        long len = in.i64(field + ".length");
        if (len < 0 || len > MAX_STRING_BYTES) {
            throw in.error(at, field, "string length " + Long.toUnsignedString(len) + " exceeds GGUF's 1 GiB limit");
        }
        if (len > in.remaining()) {
            throw in.error(at, field, "string of " + len + " bytes is longer than the rest of the file (" + in.remaining() + " bytes)");
        }
        if (budget != null) budget.spendBytes(in, at, field, 8 + len);
        return len;
    }

    private static GgufValue readValue(SegmentCursor in, GgufValueType type, String field, Budget budget) throws FormatException {
        return switch (type) {
            case UINT8 -> GgufValue.u8(in.i8(field) & 0xFF);
            case INT8 -> GgufValue.i8(in.i8(field));
            case UINT16 -> GgufValue.u16(in.i16(field) & 0xFFFF);
            case INT16 -> GgufValue.i16(in.i16(field));
            case UINT32 -> GgufValue.u32(Integer.toUnsignedLong(in.i32(field)));
            case INT32 -> GgufValue.i32(in.i32(field));
            case UINT64 -> GgufValue.u64(in.i64(field));
            case INT64 -> GgufValue.i64(in.i64(field));
            case FLOAT32 -> GgufValue.f32(in.f32(field));
            case FLOAT64 -> GgufValue.f64(in.f64(field));
            case BOOL -> GgufValue.bool(in.i8(field) != 0);
            case STRING -> GgufValue.string(readString(in, field, budget));
            case ARRAY -> {
                long at = in.position();
                int elemId = in.i32(field + ".element_type");
                GgufValueType elem = GgufValueType.byId(elemId)
                        .orElseThrow(() -> in.error(at, field + ".element_type", "unknown array element type " + elemId));
                yield GgufValue.array(readArrayBody(in, elem, field, budget, 1));
            }
        };
    }

    /** Count and elements of an array whose element type was already read (gguf-py's nested encoding too). */
    private static GgufArray readArrayBody(SegmentCursor in, GgufValueType elem, String field, Budget budget, int depth)
            throws FormatException {
        long at = in.position();
        long count = in.i64(field + ".count");
        if (count < 0 || count > MAX_ARRAY_ELEMENTS) {
            throw in.error(at, field + ".count", "array of " + Long.toUnsignedString(count) + " elements exceeds GGUF's limit of 2^30");
        }
        if (count * elem.minEncodedSize() > in.remaining()) {
            throw in.error(at, field + ".count", "array of " + count + " " + elem + " elements cannot fit in the rest of the file (" + in.remaining() + " bytes)");
        }
        budget.spendElements(in, at, field + ".count", count);
        if (elem.size() > 0) budget.spendBytes(in, at, field + ".count", count * elem.size());
        int n = (int) count;
        return switch (elem) {
            case UINT8, INT8, BOOL -> {
                byte[] b = in.bytes(n, field);
                if (elem != GgufValueType.BOOL) yield new GgufArray(elem, b);
                boolean[] v = new boolean[n];
                for (int i = 0; i < n; i++) v[i] = b[i] != 0;
                yield new GgufArray(elem, v);
            }
            case UINT16, INT16 -> {
                short[] v = new short[n];
                for (int i = 0; i < n; i++) v[i] = in.i16(field);
                yield new GgufArray(elem, v);
            }
            case UINT32, INT32 -> {
                int[] v = new int[n];
                for (int i = 0; i < n; i++) v[i] = in.i32(field);
                yield new GgufArray(elem, v);
            }
            case FLOAT32 -> {
                float[] v = new float[n];
                for (int i = 0; i < n; i++) v[i] = in.f32(field);
                yield new GgufArray(elem, v);
            }
            case UINT64, INT64 -> {
                long[] v = new long[n];
                for (int i = 0; i < n; i++) v[i] = in.i64(field);
                yield new GgufArray(elem, v);
            }
            case FLOAT64 -> {
                double[] v = new double[n];
                for (int i = 0; i < n; i++) v[i] = in.f64(field);
                yield new GgufArray(elem, v);
            }
            case STRING -> {
                // the bytes as they are, checked but not decoded: a vocabulary's 262,144 tokens go to a GGUF header
                // again unchanged (Utf8StringList)
                Utf8StringList.Builder v = new Utf8StringList.Builder(n, Math.min(in.remaining(), 8L * n));
                for (int i = 0; i < n; i++) {
                    try {
                        readString(in, field, budget, v);
                    } catch (FormatException e) {
                        // name the element only on failure: a vocabulary has hundreds of thousands of them
                        throw new FormatException(e.file(), e.offset(), field + "[" + i + "]", e.problem());
                    }
                }
                yield new GgufArray(elem, v.build());
            }
            case ARRAY -> {
                // gguf-py writes nested arrays as [uint32 type][uint64 count][elements] per element; llama.cpp rejects them.
                if (depth >= MAX_ARRAY_DEPTH) {
                    throw in.error(at, field, "arrays nested more than " + MAX_ARRAY_DEPTH
                            + " deep (requant's limit, docs/limits.md; llama.cpp reads no nested arrays at all)");
                }
                budget.spendBytes(in, at, field, 12L * n);
                GgufArray[] v = new GgufArray[n];
                for (int i = 0; i < n; i++) {
                    long tAt = in.position();
                    String ef = field + "[" + i + "]";
                    int id = in.i32(ef + ".element_type");
                    GgufValueType t = GgufValueType.byId(id)
                            .orElseThrow(() -> in.error(tAt, ef + ".element_type", "unknown array element type " + id));
                    v[i] = readArrayBody(in, t, ef, budget, depth + 1);
                }
                yield new GgufArray(elem, v);
            }
        };
    }

    @Override
    public Path path() { return path; }

    public int version() { return version; }

    @Override
    public GgufMetadata metadata() { return metadata; }

    @Override
    public List<GgufTensorInfo> tensors() { return tensors; }

    @Override
    public Optional<GgufTensorInfo> tensor(String name) { return Optional.ofNullable(byName.get(name)); }

    public int alignment() { return alignment; }

    /** Absolute file offset where the data section starts. */
    public long dataOffset() { return dataOffset; }

    public long fileSize() { return mapping.byteSize(); }

    /** The tensor's bytes, a slice of the mapping (no copy). */
    @Override
    public MemorySegment tensorData(GgufTensorInfo t) {
        return mapping.asSlice(dataOffset + t.offset(), t.byteSize());
    }

    /** The whole mapped file. */
    public MemorySegment mapping() { return mapping; }

    /** Metadata values that llama.cpp's reader would refuse although this reader accepts them (nested arrays). */
    public List<String> llamaCppIncompatibilities() {
        List<String> out = new ArrayList<>();
        for (var e : metadata.asMap().entrySet()) {
            if (e.getValue().type() == GgufValueType.ARRAY && e.getValue().asArray().containsNested()) {
                out.add("key '" + e.getKey() + "' is a nested array, which llama.cpp refuses");
            }
        }
        return out;
    }

    @Override
    public void close() {
        if (arena != null) arena.close();
    }
}
