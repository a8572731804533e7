package dev.requant.formats.gguf;

import dev.requant.formats.FormatException;
import java.io.IOException;
import java.lang.foreign.MemorySegment;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Optional;
import java.util.Set;

/**
 * A model stored in one GGUF file or split over several ({@code NAME-00001-of-00003.gguf}, ...), opened as llama.cpp's
 * model loader opens it (llama_model_loader): the file given must be the first shard ({@code split.no} 0); with
 * {@code split.count} N > 1 the others are found by name ({@code llama_split_prefix} / {@code llama_split_path}), each
 * must say its own {@code split.no}, no tensor name may repeat, and the total must equal the first shard's
 * {@code split.tensors.count}. The metadata is the first shard's.
 */
public final class GgufShards implements AutoCloseable {
    /** One tensor and the shard that holds it. */
    public record Tensor(int shard, GgufTensorInfo info) {
        public String name() { return info.name(); }
    }

    private final List<GgufFile> files;
    private final List<Tensor> tensors;
    private final boolean owned;
    private final java.util.Map<String, Tensor> byName = new java.util.HashMap<>();

    private GgufShards(List<GgufFile> files, List<Tensor> tensors, boolean owned) {
        this.files = List.copyOf(files);
        this.tensors = List.copyOf(tensors);
        this.owned = owned;
        for (Tensor t : this.tensors) byName.put(t.name(), t); // names are unique (tensorsOf)
    }

    /** Opens {@code first} and, when it is the first of several shards, the others beside it. */
    public static GgufShards open(Path first) throws IOException {
        GgufFile f = GgufFile.open(first);
        List<GgufFile> files = new ArrayList<>();
        files.add(f);
        try {
            int count = splitKey(f, GgufKeys.Split.COUNT, GgufValueType.UINT16).orElse(0L).intValue();
            if (count > 1) {
                long no = splitKey(f, GgufKeys.Split.NO, GgufValueType.UINT16)
                        .orElseThrow(() -> new FormatException(first, "split model without " + GgufKeys.Split.NO));
                if (no != 0) {
                    Optional<Path> p = GgufSplit.prefix(first, (int) no, count);
                    throw new FormatException(first, "is shard " + (no + 1) + " of " + count + " (split.no " + no
                            + "); give the first shard" + p.map(x -> ", " + GgufSplit.path(x, 0, count)).orElse(""));
                }
                Path prefix = GgufSplit.prefix(first, 0, count).orElseThrow(() -> new FormatException(first, "split.count is " + count
                        + " but the name does not end in " + GgufSplit.suffix(0, count)
                        + ", so the other shards cannot be found (llama.cpp: invalid split file name)"));
                for (int i = 1; i < count; i++) {
                    Path p = GgufSplit.path(prefix, i, count);
                    if (!Files.exists(p)) throw new FormatException(first, "shard " + (i + 1) + " of " + count + " is missing: " + p);
                    GgufFile s = GgufFile.open(p);
                    files.add(s);
                    long sno = splitKey(s, GgufKeys.Split.NO, GgufValueType.UINT16).orElseThrow(
                            () -> new FormatException(p, "no " + GgufKeys.Split.NO + " key in a shard of a split model"));
                    if (sno != i) throw new FormatException(p, "split.no is " + sno + ", expected " + i + " for shard " + (i + 1) + " of " + count);
                }
            }
            return new GgufShards(files, tensorsOf(files), true);
        } catch (IOException | RuntimeException e) {
            for (GgufFile g : files) g.close();
            throw e;
        }
    }

    /** A split key of the type llama.cpp's get_key insists on (UINT16 counts, INT32 tensor total), if present. */
    private static Optional<Long> splitKey(GgufFile f, String key, GgufValueType type) throws FormatException {
        Optional<GgufValue> v = f.metadata().get(key);
        if (v.isEmpty()) return Optional.empty();
        if (v.get().type() != type) {
            throw new FormatException(f.path(), "key " + key + " has type " + v.get().type() + ", llama.cpp expects " + type);
        }
        return Optional.of(v.get().asLong());
    }

    /** One file already open (not closed by {@link #close}); refused when it is a shard of a split model. */
    public static GgufShards of(GgufFile single) throws FormatException {
        long count = single.metadata().getLong(GgufKeys.Split.COUNT).orElse(0L);
        if (count > 1) {
            throw new FormatException(single.path(), "is shard " + (single.metadata().getLong(GgufKeys.Split.NO).orElse(0L) + 1) + " of "
                    + count + " of a split GGUF; open it with its other shards (GgufShards.open)");
        }
        return new GgufShards(List.of(single), tensorsOf(List.of(single)), false);
    }

    private static List<Tensor> tensorsOf(List<GgufFile> files) throws FormatException {
        List<Tensor> out = new ArrayList<>();
        Set<String> seen = new HashSet<>();
        for (int i = 0; i < files.size(); i++) {
            for (GgufTensorInfo t : files.get(i).tensors()) {
                if (!seen.add(t.name())) {
                    throw new FormatException(files.get(i).path(), "invalid model: tensor '" + t.name() + "' is duplicated (also in an earlier shard)");
                }
                out.add(new Tensor(i, t));
            }
        }
        if (files.size() > 1) {
            GgufFile first = files.getFirst();
            long want = splitKey(first, GgufKeys.Split.TENSORS_COUNT, GgufValueType.INT32)
                    .orElseThrow(() -> new FormatException(first.path(), "split model without " + GgufKeys.Split.TENSORS_COUNT));
            if (want != out.size()) {
                throw new FormatException(first.path(), "corrupted model: " + GgufKeys.Split.TENSORS_COUNT + " is " + want + " but the "
                        + files.size() + " shards hold " + out.size() + " tensors");
            }
        }
        return out;
    }

    /** The first shard (or the only file): its path names the model, its metadata is the model's. */
    public GgufFile first() { return files.getFirst(); }

    public Path path() { return first().path(); }

    public GgufMetadata metadata() { return first().metadata(); }

    public List<GgufFile> files() { return files; }

    public int count() { return files.size(); }

    /** Every tensor, shard by shard, each shard's in file order. */
    public List<Tensor> tensors() { return tensors; }

    public MemorySegment data(Tensor t) { return files.get(t.shard()).tensorData(t.info()); }

    public boolean isSplit() { return files.size() > 1; }

    /** The tensor of that name, and its shard. */
    public Optional<Tensor> tensor(String name) {
        return Optional.ofNullable(byName.get(name));
    }

    /** The whole model as {@link GgufTensors}: every shard's tensors, each read from its own file. */
    public GgufTensors whole() {
        return new GgufTensors() {
            private final List<GgufTensorInfo> infos = tensors.stream().map(Tensor::info).toList();

            @Override public Path path() { return GgufShards.this.path(); }

            @Override public GgufMetadata metadata() { return GgufShards.this.metadata(); }

            @Override public List<GgufTensorInfo> tensors() { return infos; }

            @Override public Optional<GgufTensorInfo> tensor(String name) { return GgufShards.this.tensor(name).map(Tensor::info); }

            @Override
            public MemorySegment tensorData(GgufTensorInfo t) {
                Tensor at = GgufShards.this.tensor(t.name()).filter(x -> x.info() == t)
                        .orElseThrow(() -> new IllegalArgumentException("tensor '" + t.name() + "' is not from " + path()));
                return data(at);
            }
        };
    }

    /** The file that holds a tensor. */
    public GgufFile fileOf(Tensor t) { return files.get(t.shard()); }

    @Override
    public void close() {
        if (owned) for (GgufFile f : files) f.close();
    }
}
