package dev.requant.formats.gguf;

import dev.requant.formats.FormatException;
import java.io.IOException;
import java.lang.foreign.MemorySegment;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Collections;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;

/**
 * One model in GGUF, whole or split into shards, as llama.cpp's llama_model_loader sees it: opened by the path of its
 * only or first file. When that file says {@code split.count} > 1, it must be shard 0 ({@code split.no} = 0) and its
 * name must end in {@code -00001-of-0000N.gguf}; shards 1..N-1 are found beside it by name, each must say its own
 * {@code split.no}, no tensor name may repeat across shards, and the shards together must hold
 * {@code split.tensors.count} tensors. The metadata is the first shard's (the others carry only the split keys); the
 * tensors are those of every shard in shard order, each read from its own mapping.
 */
public final class GgufModel implements AutoCloseable {
    private final List<GgufFile> shards;
    private final List<GgufTensorInfo> tensors;
    private final Map<String, GgufTensorInfo> byName;
    private final Map<String, GgufFile> shardOf;

    private GgufModel(List<GgufFile> shards, List<GgufTensorInfo> tensors, Map<String, GgufTensorInfo> byName,
            Map<String, GgufFile> shardOf) {
        this.shards = List.copyOf(shards);
        this.tensors = Collections.unmodifiableList(tensors);
        this.byName = byName;
        this.shardOf = shardOf;
    }

    /** Opens a GGUF file, and the other shards when it is the first of a split model. */
    public static GgufModel open(Path path) throws IOException {
        List<GgufFile> opened = new ArrayList<>();
        try {
            GgufFile first = GgufFile.open(path);
            opened.add(first);
            int count = splitKey(first, GgufSplit.KEY_COUNT, GgufValueType.UINT16).orElse(0L).intValue();
            if (count > 1) {
                int no = splitKey(first, GgufSplit.KEY_NO, GgufValueType.UINT16)
                        .orElseThrow(() -> new FormatException(path, "split model without " + GgufSplit.KEY_NO)).intValue();
                if (no != 0) {
                    throw new FormatException(path, "this is shard " + (no + 1) + " of " + count
                            + " of a split model; open the first shard (-00001-of-" + String.format("%05d", count) + ".gguf)");
                }
                Path prefix = GgufSplit.prefix(path, 0, count).orElseThrow(() -> new FormatException(path,
                        "split model of " + count + " shards, but the name does not end in "
                                + String.format("-00001-of-%05d.gguf", count)));
                for (int i = 1; i < count; i++) {
                    Path shardPath = GgufSplit.path(prefix, i, count);
                    GgufFile shard;
                    try {
                        shard = GgufFile.open(shardPath);
                    } catch (java.nio.file.NoSuchFileException e) {
                        throw new FormatException(path, "shard " + (i + 1) + " of " + count + " is missing: " + shardPath);
                    }
                    opened.add(shard);
                    long shardNo = splitKey(shard, GgufSplit.KEY_NO, GgufValueType.UINT16)
                            .orElseThrow(() -> new FormatException(shardPath, "shard of a split model without " + GgufSplit.KEY_NO));
                    if (shardNo != i) {
                        throw new FormatException(shardPath, GgufSplit.KEY_NO + " is " + shardNo + ", expected " + i);
                    }
                }
            }
            List<GgufTensorInfo> tensors = new ArrayList<>();
            Map<String, GgufTensorInfo> byName = new HashMap<>();
            Map<String, GgufFile> shardOf = new HashMap<>();
            for (GgufFile f : opened) {
                for (GgufTensorInfo t : f.tensors()) {
                    if (byName.putIfAbsent(t.name(), t) != null) {
                        throw new FormatException(f.path(), "tensor '" + t.name() + "' is also in "
                                + shardOf.get(t.name()).path().getFileName() + " (duplicated across shards)");
                    }
                    shardOf.put(t.name(), f);
                    tensors.add(t);
                }
            }
            if (count > 1) {
                long expected = splitKey(first, GgufSplit.KEY_TENSORS_COUNT, GgufValueType.INT32)
                        .orElseThrow(() -> new FormatException(path, "split model without " + GgufSplit.KEY_TENSORS_COUNT));
                if (expected != tensors.size()) {
                    throw new FormatException(path, GgufSplit.KEY_TENSORS_COUNT + " is " + expected + " but the " + count
                            + " shards hold " + tensors.size() + " tensors");
                }
            }
            return new GgufModel(opened, tensors, byName, shardOf);
        } catch (IOException | RuntimeException e) {
            for (GgufFile f : opened) f.close();
            throw e;
        }
    }

    /** A split key of the type llama.cpp's get_key insists on, if present. */
    private static Optional<Long> splitKey(GgufFile f, String key, GgufValueType type) throws FormatException {
        Optional<GgufValue> v = f.metadata().get(key);
        if (v.isEmpty()) return Optional.empty();
        if (v.get().type() != type) {
            throw new FormatException(f.path(), "key " + key + " has type " + v.get().type() + ", llama.cpp expects " + type);
        }
        return Optional.of(v.get().asLong());
    }

    /** The path it was opened by (the first shard's). */
    public Path path() { return shards.getFirst().path(); }

    /** The files, first shard first; one for a model that is not split. */
    public List<GgufFile> shards() { return shards; }

    public boolean isSplit() { return shards.size() > 1; }

    /** The first shard's metadata, split keys included. */
    public GgufMetadata metadata() { return shards.getFirst().metadata(); }

    /** Every tensor, in shard order and within a shard in file order. */
    public List<GgufTensorInfo> tensors() { return tensors; }

    public Optional<GgufTensorInfo> tensor(String name) { return Optional.ofNullable(byName.get(name)); }

    /** The shard that holds a tensor. */
    public GgufFile shardOf(GgufTensorInfo t) {
        GgufFile f = shardOf.get(t.name());
        if (f == null || byName.get(t.name()) != t) throw new IllegalArgumentException("tensor '" + t.name() + "' is not from this model");
        return f;
    }

    /** The tensor's bytes, a slice of its shard's mapping (no copy). */
    public MemorySegment tensorData(GgufTensorInfo t) {
        return shardOf(t).tensorData(t);
    }

    /** Bytes of all shards together. */
    public long totalSize() {
        long s = 0;
        for (GgufFile f : shards) s += f.fileSize();
        return s;
    }

    @Override
    public void close() {
        for (GgufFile f : shards) f.close();
    }
}
