package dev.requant.formats.safetensors;

import com.fasterxml.jackson.databind.JsonNode;
import dev.requant.formats.FormatException;
import dev.requant.formats.io.InputFiles;
import dev.requant.formats.io.MappingPrefetch;
import dev.requant.formats.io.ModelFolder;
import dev.requant.formats.io.JsonFile;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.TreeMap;
import java.util.TreeSet;
import java.util.stream.Stream;

/**
 * The weights of a Hugging Face folder (or one .safetensors file): a single {@code model.safetensors}, or shards named
 * by {@code model.safetensors.index.json}, or {@code model*.safetensors} parts. Tensors are listed like
 * convert_hf_to_gguf.py indexes them: shards in name order, tensor names sorted within a shard. The index and the
 * shards must name the same tensors.
 */
public final class SafetensorsCheckpoint implements AutoCloseable {
    public static final String INDEX = "model.safetensors.index.json";

    /** A tensor and the shard that holds it. */
    public record Entry(SafetensorsFile file, SafetensorsTensor tensor) {
        public String name() { return tensor.name(); }
    }

    private final Path root;
    private final List<SafetensorsFile> files;
    private final List<Entry> entries;
    private final Map<String, Entry> byName;

    private SafetensorsCheckpoint(Path root, List<SafetensorsFile> files, List<Entry> entries) {
        this.root = root;
        this.files = Collections.unmodifiableList(files);
        this.entries = Collections.unmodifiableList(entries);
        Map<String, Entry> m = new LinkedHashMap<>();
        for (Entry e : entries) m.put(e.name(), e);
        this.byName = m;
    }

    /** Opens a folder or a single file. */
    public static SafetensorsCheckpoint open(Path path) throws IOException {
        if (!Files.exists(path)) throw new NoSuchFileException(path.toString(), null, "no such file or folder");
        if (!Files.isDirectory(path)) return fromFiles(path, List.of(path), null);
        ModelFolder.checkLinks(path);
        Path index = path.resolve(INDEX);
        if (InputFiles.present(index, "safetensors index")) return fromIndex(path, index);
        List<Path> parts;
        try (Stream<Path> s = Files.list(path)) {
            // not only regular files: a FIFO named like a shard is refused when it is opened, not skipped
            parts = s.filter(p -> {
                String n = p.getFileName().toString();
                return n.startsWith("model") && n.endsWith(".safetensors") && !Files.isDirectory(p);
            }).sorted().toList();
        }
        if (parts.isEmpty()) {
            throw new FormatException(path, "no weights: neither " + INDEX + " nor model*.safetensors in the folder");
        }
        return fromFiles(path, parts, null);
    }

    private static SafetensorsCheckpoint fromIndex(Path dir, Path index) throws IOException {
        JsonNode root = JsonFile.read(index);
        JsonNode map = root == null ? null : root.get("weight_map");
        if (map == null || !map.isObject()) throw new FormatException(index, "has no weight_map object");
        Map<String, String> weightMap = new TreeMap<>();
        for (var e : map.properties()) {
            if (!e.getValue().isTextual()) throw new FormatException(index, "weight_map entry '" + e.getKey() + "' is not a file name");
            weightMap.put(e.getKey(), e.getValue().asText());
        }
        TreeSet<String> shardNames = new TreeSet<>(weightMap.values());
        List<Path> shards = new ArrayList<>();
        for (String s : shardNames) {
            Path p;
            try {
                p = dir.resolve(s).normalize();
            } catch (java.nio.file.InvalidPathException e) {
                throw new FormatException(index, "names shard '" + s + "', which is not a valid file name (" + e.getReason() + ")");
            }
            if (!p.startsWith(dir.normalize())) throw new FormatException(index, "shard '" + s + "' points outside the folder");
            if (!Files.exists(p)) throw new FormatException(index, "names shard '" + s + "', which is missing");
            ModelFolder.checkInside(dir, p);
            shards.add(p);
        }
        return fromFiles(dir, shards, new IndexCheck(index, weightMap));
    }

    private record IndexCheck(Path index, Map<String, String> weightMap) {}

    private static SafetensorsCheckpoint fromFiles(Path root, List<Path> paths, IndexCheck check) throws IOException {
        List<SafetensorsFile> files = new ArrayList<>();
        try {
            List<Entry> entries = new ArrayList<>();
            Map<String, Path> seen = new TreeMap<>();
            for (Path p : paths) {
                SafetensorsFile f = SafetensorsFile.open(p);
                files.add(f);
                List<SafetensorsTensor> sorted = new ArrayList<>(f.tensors());
                sorted.sort((a, b) -> a.name().compareTo(b.name()));
                for (SafetensorsTensor t : sorted) {
                    Path prev = seen.put(t.name(), p);
                    if (prev != null) throw new FormatException(p, "tensor '" + t.name() + "' is also in " + prev.getFileName());
                    if (check != null) {
                        String listed = check.weightMap().get(t.name());
                        if (listed == null) throw new FormatException(check.index(), "does not list tensor '" + t.name() + "' found in " + p.getFileName());
                        if (!p.getFileName().toString().equals(Path.of(listed).getFileName().toString())) {
                            throw new FormatException(check.index(), "puts tensor '" + t.name() + "' in " + listed + ", but it is in " + p.getFileName());
                        }
                    }
                    entries.add(new Entry(f, t));
                }
            }
            if (check != null) {
                for (var e : check.weightMap().entrySet()) {
                    if (!seen.containsKey(e.getKey())) {
                        throw new FormatException(check.index(), "lists tensor '" + e.getKey() + "' in " + e.getValue() + ", which does not contain it");
                    }
                }
            }
            return new SafetensorsCheckpoint(root, files, entries);
        } catch (IOException | RuntimeException e) {
            for (SafetensorsFile f : files) f.close();
            throw e;
        }
    }

    public Path root() { return root; }

    /**
     * Starts mapping the shards' pages in on a background thread, in shard order ({@link MappingPrefetch}), for a
     * caller about to read every tensor; returns whether it started.
     */
    public boolean prefetch() {
        return MappingPrefetch.start(files.stream().map(SafetensorsFile::mapping).toList(), "requant-prefetch");
    }

    public List<SafetensorsFile> files() { return files; }

    /** All tensors, shard by shard, names sorted within a shard. */
    public List<Entry> entries() { return entries; }

    public Optional<Entry> get(String name) { return Optional.ofNullable(byName.get(name)); }

    public long totalBytes() {
        long n = 0;
        for (Entry e : entries) n += e.tensor().byteSize();
        return n;
    }

    @Override
    public void close() {
        for (SafetensorsFile f : files) f.close();
    }
}
