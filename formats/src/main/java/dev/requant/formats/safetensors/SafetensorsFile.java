package dev.requant.formats.safetensors;

import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.JsonNode;
import dev.requant.formats.FormatException;
import dev.requant.formats.io.JsonTree;
import dev.requant.formats.io.LittleEndian;
import dev.requant.formats.io.MappedFile;
import java.io.IOException;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Collections;
import java.util.Comparator;
import java.util.Iterator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;

/**
 * One memory-mapped safetensors file: {@code uint64 N}, N bytes of JSON header, then the data section. The header is
 * checked before anything is trusted, as strictly as the reference library (safetensors' {@code Metadata::validate}
 * and {@code read_metadata}): its length, that it is one JSON object starting with '{' (trailing spaces allowed,
 * nothing else), no duplicate keys, every dtype, shape and byte range, and that the tensors' ranges cover the data
 * section exactly: the first starts at 0, each starts where the previous ends, the last ends at the end of the file.
 * A header length off by a few bytes therefore cannot shift every weight unnoticed (the JSON of a padded header would
 * still parse).
 */
public final class SafetensorsFile implements AutoCloseable {
    /** The reference implementation refuses headers above 100 MB. */
    static final long MAX_HEADER_BYTES = 100_000_000L;

    private final Path path;
    private final Arena arena;
    private final MemorySegment mapping;
    private final long dataStart;
    private final Map<String, String> metadata;
    private final List<SafetensorsTensor> tensors;
    private final Map<String, SafetensorsTensor> byName;

    private SafetensorsFile(Path path, Arena arena, MemorySegment mapping, long dataStart, Map<String, String> metadata,
                            List<SafetensorsTensor> tensors) {
        this.path = path;
        this.arena = arena;
        this.mapping = mapping;
        this.dataStart = dataStart;
        this.metadata = Collections.unmodifiableMap(metadata);
        this.tensors = Collections.unmodifiableList(tensors);
        Map<String, SafetensorsTensor> m = new LinkedHashMap<>();
        for (SafetensorsTensor t : tensors) m.put(t.name(), t);
        this.byName = m;
    }

    public static SafetensorsFile open(Path path) throws IOException {
        return MappedFile.open(path, "safetensors file", SafetensorsFile::parse);
    }

    /** Parses a file held in memory (tests). */
    public static SafetensorsFile parse(Path nameForErrors, MemorySegment segment) throws FormatException {
        return parse(nameForErrors, null, segment);
    }

    private static SafetensorsFile parse(Path path, Arena arena, MemorySegment seg) throws FormatException {
        long size = seg.byteSize();
        if (size < 8) throw new FormatException(path, 0, "header_size", "not a safetensors file: only " + size + " bytes");
        long n = seg.get(LittleEndian.LONG, 0);
        if (n < 2 || n > size - 8) {
            // The value itself is not shown: for a file that is not safetensors it is just its first eight bytes.
            throw new FormatException(path, 0, "header_size", "not a safetensors file: the header length (first 8 bytes) "
                    + (n < 2 ? "is below 2" : "is larger than the file (" + size + " bytes)"));
        }
        if (n > MAX_HEADER_BYTES) throw new FormatException(path, 0, "header_size", "header length " + n + " exceeds 100 MB");
        if (seg.get(LittleEndian.BYTE, 8) != '{') {
            throw new FormatException(path, 8, "header", "not a safetensors file: the header does not start with '{'");
        }
        byte[] headerBytes = new byte[(int) n];
        MemorySegment.copy(seg, LittleEndian.BYTE, 8, headerBytes, 0, (int) n);
        JsonNode root;
        try {
            root = JsonTree.readStrict(headerBytes);
        } catch (JsonProcessingException e) {
            throw new FormatException(path, 8, "header", "header is not valid JSON: " + e.getOriginalMessage());
        } catch (IOException e) {
            throw new FormatException(path, 8, "header", "header cannot be read: " + e.getMessage());
        }
        if (root == null || !root.isObject()) throw new FormatException(path, 8, "header", "header is not a JSON object");
        long dataStart = 8 + n;
        long dataSize = size - dataStart;

        Map<String, String> metadata = new LinkedHashMap<>();
        List<SafetensorsTensor> tensors = new ArrayList<>();
        for (Iterator<Map.Entry<String, JsonNode>> it = root.properties().iterator(); it.hasNext(); ) {
            Map.Entry<String, JsonNode> e = it.next();
            String name = e.getKey();
            JsonNode v = e.getValue();
            if (name.equals("__metadata__")) {
                if (!v.isObject()) throw new FormatException(path, 8, "__metadata__", "__metadata__ is not an object");
                for (var m : v.properties()) {
                    if (!m.getValue().isTextual()) {
                        throw new FormatException(path, 8, "__metadata__." + m.getKey(), "metadata value is not a string");
                    }
                    metadata.put(m.getKey(), m.getValue().asText());
                }
                continue;
            }
            tensors.add(parseTensor(path, name, v, dataSize));
        }

        checkCoverage(path, tensors, dataStart, dataSize);
        return new SafetensorsFile(path, arena, seg, dataStart, metadata, tensors);
    }

    /**
     * The reference library's rule: sorted by offset, the tensors tile the data section with no gap, no overlap and
     * nothing after the last one. Any other layout means the header and the data disagree (a header length or an
     * offset written wrong), and reading on would hand out shifted weights.
     */
    private static void checkCoverage(Path path, List<SafetensorsTensor> tensors, long dataStart, long dataSize) throws FormatException {
        List<SafetensorsTensor> byOffset = new ArrayList<>(tensors);
        byOffset.sort(Comparator.comparingLong(SafetensorsTensor::begin).thenComparingLong(SafetensorsTensor::end));
        long expected = 0;
        SafetensorsTensor previous = null;
        for (SafetensorsTensor t : byOffset) {
            if (t.begin() < expected) {
                throw new FormatException(path, dataStart + t.begin(), t.name() + ".data_offsets",
                        "tensor '" + t.name() + "' overlaps tensor '" + previous.name() + "' ([" + t.begin() + ", " + t.end() + ") vs ["
                                + previous.begin() + ", " + previous.end() + "))");
            }
            if (t.begin() > expected) {
                throw new FormatException(path, dataStart + expected, t.name() + ".data_offsets",
                        "gap of " + (t.begin() - expected) + " bytes in the data section before tensor '" + t.name() + "' ([" + expected
                                + ", " + t.begin() + ") belongs to no tensor; header length or offsets are wrong)");
            }
            expected = t.end();
            previous = t;
        }
        if (expected != dataSize) {
            throw new FormatException(path, dataStart + expected, "data",
                    (dataSize - expected) + " bytes after the last tensor's data (the data section is " + dataSize + " bytes, the tensors cover "
                            + expected + "; header length or offsets are wrong)");
        }
    }

    private static SafetensorsTensor parseTensor(Path path, String name, JsonNode v, long dataSize) throws FormatException {
        if (!v.isObject()) throw new FormatException(path, 8, name, "tensor entry '" + name + "' is not an object");
        JsonNode dt = v.get("dtype"), sh = v.get("shape"), off = v.get("data_offsets");
        if (dt == null || !dt.isTextual()) throw new FormatException(path, 8, name + ".dtype", "tensor '" + name + "' has no dtype");
        SafetensorsDtype dtype = SafetensorsDtype.byName(dt.asText())
                .orElseThrow(() -> new FormatException(path, 8, name + ".dtype", "tensor '" + name + "' has unsupported dtype " + dt.asText()));
        if (sh == null || !sh.isArray()) throw new FormatException(path, 8, name + ".shape", "tensor '" + name + "' has no shape");
        long[] shape = new long[sh.size()];
        long count = 1;
        for (int i = 0; i < shape.length; i++) {
            JsonNode d = sh.get(i);
            if (!d.canConvertToLong() || !d.isIntegralNumber() || d.asLong() < 0) {
                throw new FormatException(path, 8, name + ".shape", "tensor '" + name + "' has invalid dimension " + d);
            }
            shape[i] = d.asLong();
            try {
                count = Math.multiplyExact(count, shape[i]);
            } catch (ArithmeticException ex) {
                throw new FormatException(path, 8, name + ".shape", "tensor '" + name + "' element count overflows");
            }
        }
        if (off == null || !off.isArray() || off.size() != 2 || !off.get(0).isIntegralNumber() || !off.get(1).isIntegralNumber()
                || !off.get(0).canConvertToLong() || !off.get(1).canConvertToLong()) {
            throw new FormatException(path, 8, name + ".data_offsets", "tensor '" + name + "' needs data_offsets [begin, end]");
        }
        long begin = off.get(0).asLong(), end = off.get(1).asLong();
        if (begin < 0 || end < begin) {
            throw new FormatException(path, 8, name + ".data_offsets", "tensor '" + name + "' has invalid range [" + begin + ", " + end + ")");
        }
        if (end > dataSize) {
            throw new FormatException(path, 8, name + ".data_offsets",
                    "tensor '" + name + "' data [" + begin + ", " + end + ") runs past the end of the data section (" + dataSize + " bytes; file truncated?)");
        }
        long expected;
        try {
            expected = Math.multiplyExact(count, dtype.size());
        } catch (ArithmeticException ex) {
            throw new FormatException(path, 8, name + ".shape", "tensor '" + name + "' byte size overflows");
        }
        if (end - begin != expected) {
            throw new FormatException(path, 8, name + ".data_offsets", "tensor '" + name + "' is " + dtype + " " + java.util.Arrays.toString(shape)
                    + " = " + expected + " bytes, but its data range holds " + (end - begin));
        }
        return new SafetensorsTensor(name, dtype, shape, begin, end);
    }

    public Path path() { return path; }

    /** The string map under {@code __metadata__}. */
    public Map<String, String> metadata() { return metadata; }

    /** Tensors in header order. */
    public List<SafetensorsTensor> tensors() { return tensors; }

    public Optional<SafetensorsTensor> tensor(String name) { return Optional.ofNullable(byName.get(name)); }

    /** Absolute offset of the data section. */
    public long dataStart() { return dataStart; }

    public long fileSize() { return mapping.byteSize(); }

    /** The whole file's mapping (for {@link SafetensorsCheckpoint#prefetch}). */
    MemorySegment mapping() { return mapping; }

    /** The tensor's bytes, a slice of the mapping. */
    public MemorySegment data(SafetensorsTensor t) {
        return mapping.asSlice(dataStart + t.begin(), t.byteSize());
    }

    static String headerString(MemorySegment seg) {
        long n = seg.get(LittleEndian.LONG, 0);
        byte[] b = new byte[(int) n];
        MemorySegment.copy(seg, LittleEndian.BYTE, 8, b, 0, (int) n);
        return new String(b, StandardCharsets.UTF_8);
    }

    @Override
    public void close() {
        if (arena != null) arena.close();
    }
}
