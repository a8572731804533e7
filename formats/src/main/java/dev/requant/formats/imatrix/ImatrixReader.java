package dev.requant.formats.imatrix;

import dev.requant.formats.FormatException;
import dev.requant.formats.ggml.GgmlType;
import dev.requant.formats.gguf.GgufArray;
import dev.requant.formats.gguf.GgufFile;
import dev.requant.formats.gguf.GgufKeys;
import dev.requant.formats.gguf.GgufMetadata;
import dev.requant.formats.gguf.GgufTensorInfo;
import dev.requant.formats.gguf.GgufValue;
import dev.requant.formats.gguf.GgufValueType;
import dev.requant.formats.io.LittleEndian;
import dev.requant.formats.io.SegmentCursor;
import java.io.IOException;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.nio.channels.FileChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Reads an imatrix file the way llama.cpp's {@code common_imatrix_load} (common/imatrix-loader.cpp) does: as GGUF
 * first, and when that fails, as a legacy .dat file. Where llama.cpp aborts or reads garbage on malformed input, this
 * reader fails with a {@link FormatException} that names the file, the offset and the field.
 */
public final class ImatrixReader {
    private static final Logger LOG = LoggerFactory.getLogger(ImatrixReader.class);

    public static final String SUFFIX_SUMS = ".in_sum2";
    public static final String SUFFIX_COUNTS = ".counts";

    private ImatrixReader() {}

    /** GGUF when the file parses as GGUF, else legacy .dat (common_imatrix_load's order). */
    public static Imatrix read(Path path) throws IOException {
        if (!Files.exists(path)) throw new NoSuchFileException(path.toString(), null, "no such file");
        if (Files.isDirectory(path)) throw new FormatException(path, "is a directory, not an imatrix file");
        GgufFile gguf;
        try {
            gguf = GgufFile.open(path);
        } catch (FormatException notGguf) {
            try {
                return readLegacy(path);
            } catch (FormatException notLegacy) {
                // A file that starts with the GGUF magic is a broken GGUF file, not a legacy one: say why GGUF failed.
                if (startsWithGgufMagic(path)) throw notGguf;
                throw notLegacy;
            }
        }
        try (gguf) {
            return fromGguf(gguf);
        }
    }

    private static boolean startsWithGgufMagic(Path path) throws IOException {
        try (var in = Files.newInputStream(path)) {
            byte[] m = in.readNBytes(4);
            return m.length == 4 && m[0] == 'G' && m[1] == 'G' && m[2] == 'U' && m[3] == 'F';
        }
    }

    /** The imatrix in an open GGUF file. */
    public static Imatrix fromGguf(GgufFile f) throws FormatException {
        Path path = f.path();
        if (f.tensors().isEmpty()) throw new FormatException(path, "no data in imatrix file: it has no tensors");
        GgufMetadata md = f.metadata();
        List<String> datasets = new ArrayList<>();
        // llama.cpp reads imatrix.datasets only when it is an array of strings and ignores it otherwise.
        md.get(GgufKeys.IMatrix.DATASETS).filter(v -> v.type() == GgufValueType.ARRAY && v.asArray().elementType() == GgufValueType.STRING)
                .ifPresent(v -> datasets.addAll(List.of(v.asArray().strings())));
        boolean hasMetadata = md.contains(GgufKeys.IMatrix.DATASETS) && md.contains(GgufKeys.IMatrix.CHUNK_COUNT) && md.contains(GgufKeys.IMatrix.CHUNK_SIZE);
        int chunkCount = u32(f, GgufKeys.IMatrix.CHUNK_COUNT);
        int chunkSize = u32(f, GgufKeys.IMatrix.CHUNK_SIZE);

        // Pair <name>.in_sum2 with <name>.counts; other tensors (newer llama.cpp's .in_sum, forks' extras) are ignored.
        Map<String, GgufTensorInfo[]> pairs = new TreeMap<>(Imatrix.NAME_ORDER);
        for (GgufTensorInfo t : f.tensors()) {
            String n = t.name();
            if (n.endsWith(SUFFIX_SUMS)) {
                pairs.computeIfAbsent(n.substring(0, n.length() - SUFFIX_SUMS.length()), k -> new GgufTensorInfo[2])[0] = t;
            } else if (n.endsWith(SUFFIX_COUNTS)) {
                pairs.computeIfAbsent(n.substring(0, n.length() - SUFFIX_COUNTS.length()), k -> new GgufTensorInfo[2])[1] = t;
            }
        }
        TreeMap<String, ImatrixEntry> entries = new TreeMap<>(Imatrix.NAME_ORDER);
        for (var p : pairs.entrySet()) {
            String name = p.getKey();
            GgufTensorInfo sums = p.getValue()[0], counts = p.getValue()[1];
            if (sums == null || counts == null) {
                throw new FormatException(path, "mismatched sums and counts for '" + name + "': tensor '" + name
                        + (sums == null ? SUFFIX_SUMS : SUFFIX_COUNTS) + "' is missing");
            }
            for (GgufTensorInfo t : new GgufTensorInfo[] {sums, counts}) {
                if (t.type() != GgmlType.F32) {
                    throw new FormatException(path, f.dataOffset() + t.offset(), "tensor '" + t.name() + "'",
                            "imatrix sums and counts must be F32, found " + t.type());
                }
            }
            long nval = sums.spec().elementCount(), ncounts = counts.spec().elementCount();
            if (nval > Integer.MAX_VALUE || nval % ncounts != 0) {
                throw new FormatException(path, f.dataOffset() + sums.offset(), "tensor '" + sums.name() + "'",
                        nval + " values are not a multiple of the " + ncounts + " counts in '" + counts.name() + "'");
            }
            float[] s = new float[(int) nval];
            MemorySegment.copy(f.tensorData(sums), LittleEndian.FLOAT, 0, s, 0, s.length);
            float[] c = new float[(int) ncounts];
            MemorySegment.copy(f.tensorData(counts), LittleEndian.FLOAT, 0, c, 0, c.length);
            long[] lc = new long[c.length];
            for (int i = 0; i < c.length; i++) lc[i] = lround(c[i]);
            entries.put(name, new ImatrixEntry(name, s, lc));
        }
        if (entries.isEmpty()) {
            throw new FormatException(path, "no imatrix entries: none of its " + f.tensors().size() + " tensors is a <weight>"
                    + SUFFIX_SUMS + " / <weight>" + SUFFIX_COUNTS + " pair");
        }
        return new Imatrix(entries, datasets, chunkCount, chunkSize, ImatrixFormat.GGUF, false, hasMetadata);
    }

    /** C's lround: nearest, halves away from zero (the counts are stored as floats). */
    static long lround(float x) {
        if (!Float.isFinite(x)) return 0;
        return (long) (x < 0 ? -Math.floor(-(double) x + 0.5) : Math.floor((double) x + 0.5));
    }

    /** llama.cpp reads the chunk keys with gguf_get_val_u32, which aborts on another type; here it is an error. */
    private static int u32(GgufFile f, String key) throws FormatException {
        GgufValue v = f.metadata().get(key).orElse(null);
        if (v == null) return 0;
        if (v.type() != GgufValueType.UINT32) {
            throw new FormatException(f.path(), -1, key, key + " must be UINT32, found " + v.type());
        }
        long x = v.asLong();
        if (x > Integer.MAX_VALUE) throw new FormatException(f.path(), -1, key, key + " = " + x + " is out of range");
        return (int) x;
    }

    /**
     * Reads a legacy .dat file (common_imatrix_load_legacy). All fields are little-endian:
     * <pre>
     * int32 n_entries
     * n_entries times: int32 len; byte name[len]; int32 ncall; int32 nval; float values[nval]
     * optional trailer: int32 chunk_count; int32 dlen; byte dataset[dlen]
     * </pre>
     */
    public static Imatrix readLegacy(Path path) throws IOException {
        try (Arena arena = Arena.ofConfined(); FileChannel ch = FileChannel.open(path, StandardOpenOption.READ)) {
            long size = ch.size();
            MemorySegment seg = size == 0 ? MemorySegment.ofArray(new byte[0]) : ch.map(FileChannel.MapMode.READ_ONLY, 0, size, arena);
            return parseLegacy(path, seg);
        }
    }

    /** Parses legacy .dat bytes held in memory. */
    public static Imatrix parseLegacy(Path nameForErrors, MemorySegment seg) throws FormatException {
        SegmentCursor in = new SegmentCursor(nameForErrors, seg);
        if (in.remaining() < 4) {
            throw in.error(0, "n_entries", "not an imatrix file: neither GGUF nor legacy .dat (only " + in.remaining() + " bytes)");
        }
        int nEntries = in.i32("n_entries");
        // Smallest entry: len (4) + ncall (4) + nval (4) + one value (4).
        if (nEntries < 1 || nEntries > in.remaining() / 16) {
            throw in.error(0, "n_entries", "not an imatrix file: neither GGUF nor a legacy .dat with a plausible entry count ("
                    + nEntries + " entries in " + seg.byteSize() + " bytes)");
        }
        TreeMap<String, ImatrixEntry> entries = new TreeMap<>(Imatrix.NAME_ORDER);
        for (int i = 0; i < nEntries; i++) {
            String field = "entry[" + i + "]";
            long at = in.position();
            int len = in.i32(field + ".name_length");
            if (len < 0 || len > in.remaining()) {
                throw in.error(at, field + ".name_length", "name length " + len + " does not fit in the rest of the file (" + in.remaining() + " bytes)");
            }
            byte[] raw = in.bytes(len, field + ".name");
            // llama.cpp builds the name from a C string: it ends at the first NUL byte.
            int end = 0;
            while (end < raw.length && raw[end] != 0) end++;
            String name = decodeName(in, at + 4, raw, end, field);
            String ef = field + " '" + name + "'";
            int ncall = in.i32(ef + ".ncall");
            long nvalAt = in.position();
            int nval = in.i32(ef + ".nval");
            if (nval < 1) throw in.error(nvalAt, ef + ".nval", "entry has " + nval + " values, needs at least 1");
            if ((long) nval * 4 > in.remaining()) {
                throw in.error(nvalAt, ef + ".nval", nval + " values need " + 4L * nval + " bytes, only " + in.remaining() + " left in the file");
            }
            float[] v = new float[nval];
            MemorySegment.copy(seg, LittleEndian.FLOAT, in.position(), v, 0, nval);
            in.seek(in.position() + 4L * nval);
            // llama.cpp's map assignment: a repeated name replaces the earlier entry.
            if (entries.put(name, new ImatrixEntry(name, v, new long[] {ncall})) != null) {
                LOG.warn("{}: entry '{}' appears twice; the later one is used, as llama.cpp does", nameForErrors, name);
            }
        }
        int chunkCount = 0;
        List<String> datasets = new ArrayList<>();
        if (in.remaining() > 0) {
            chunkCount = in.i32("trailer.chunk_count");
            if (chunkCount < 0) throw in.error(in.position() - 4, "trailer.chunk_count", "negative chunk count " + chunkCount);
            if (in.remaining() > 0) {
                long at = in.position();
                int dlen = in.i32("trailer.dataset_length");
                if (dlen < 0 || dlen > in.remaining()) {
                    throw in.error(at, "trailer.dataset_length", "dataset name length " + dlen + " does not fit in the rest of the file (" + in.remaining() + " bytes)");
                }
                if (dlen > 0) {
                    byte[] raw = in.bytes(dlen, "trailer.dataset");
                    int end = 0;
                    while (end < raw.length && raw[end] != 0) end++;
                    datasets.add(new String(raw, 0, end, StandardCharsets.UTF_8));
                }
                if (in.remaining() > 0) {
                    LOG.warn("{}: {} bytes after the legacy trailer are ignored, as llama.cpp does", nameForErrors, in.remaining());
                }
            }
        }
        return new Imatrix(entries, datasets, chunkCount, 0, ImatrixFormat.DAT, true, false);
    }

    private static String decodeName(SegmentCursor in, long at, byte[] raw, int len, String field) throws FormatException {
        try {
            return StandardCharsets.UTF_8.newDecoder().decode(java.nio.ByteBuffer.wrap(raw, 0, len)).toString();
        } catch (java.nio.charset.CharacterCodingException e) {
            throw in.error(at, field + ".name", "weight name is not valid UTF-8");
        }
    }
}
