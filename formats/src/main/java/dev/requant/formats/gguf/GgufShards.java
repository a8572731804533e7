package dev.requant.formats.gguf;

import dev.requant.formats.FormatException;
import java.io.IOException;
import java.lang.foreign.MemorySegment;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Locale;
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

    private GgufShards(List<GgufFile> files, List<Tensor> tensors, boolean owned) {
        this.files = List.copyOf(files);
        this.tensors = List.copyOf(tensors);
        this.owned = owned;
    }

    /** Opens {@code first} and, when it is the first of several shards, the others beside it. */
    public static GgufShards open(Path first) throws IOException {
        GgufFile f = GgufFile.open(first);
        List<GgufFile> files = new ArrayList<>();
        files.add(f);
        try {
            long count = f.metadata().getLong(GgufKeys.Split.COUNT).orElse(0L);
            if (count > 1) {
                long no = f.metadata().getLong(GgufKeys.Split.NO).orElse(0L);
                if (no != 0) {
                    String p = prefixOrNull(first, (int) no, (int) count);
                    throw new FormatException(first, "is shard " + (no + 1) + " of " + count + " (split.no " + no
                            + "); give the first shard" + (p == null ? "" : ", " + splitPath(p, 0, (int) count)));
                }
                String prefix = prefixOrNull(first, 0, (int) count);
                if (prefix == null) {
                    throw new FormatException(first, "split.count is " + count + " but the name does not end in "
                            + suffix(0, (int) count) + ", so the other shards cannot be found (llama.cpp: invalid split file name)");
                }
                for (int i = 1; i < count; i++) {
                    Path p = Path.of(splitPath(prefix, i, (int) count));
                    if (!Files.exists(p)) throw new FormatException(first, "shard " + (i + 1) + " of " + count + " is missing: " + p);
                    GgufFile s = GgufFile.open(p);
                    files.add(s);
                    long sno = s.metadata().getLong(GgufKeys.Split.NO).orElseThrow(
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
                if (!seen.add(t.name())) throw new FormatException(files.get(i).path(), "invalid model: tensor '" + t.name() + "' is duplicated");
                out.add(new Tensor(i, t));
            }
        }
        if (files.size() > 1) {
            GgufFile first = files.getFirst();
            long want = first.metadata().getLong(GgufKeys.Split.TENSORS_COUNT).orElse(-1L);
            if (want != out.size()) {
                throw new FormatException(first.path(), "corrupted model: " + want + " tensors expected (" + GgufKeys.Split.TENSORS_COUNT
                        + ") but " + out.size() + " found in " + files.size() + " shards");
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

    /** llama_split_path: {@code PREFIX-00002-of-00005.gguf} for shard index 1 of 5. */
    public static String splitPath(String prefix, int index, int count) {
        return prefix + suffix(index, count);
    }

    private static String suffix(int index, int count) {
        return String.format(Locale.ROOT, "-%05d-of-%05d.gguf", index + 1, count);
    }

    /** llama_split_prefix: the path without {@code -0000I-of-0000N.gguf}, or null when it does not end so. */
    static String prefixOrNull(Path p, int index, int count) {
        String s = p.toString(), suffix = suffix(index, count);
        if (s.length() <= suffix.length() || !s.endsWith(suffix)) return null;
        return s.substring(0, s.length() - suffix.length());
    }

    @Override
    public void close() {
        if (owned) for (GgufFile f : files) f.close();
    }
}
