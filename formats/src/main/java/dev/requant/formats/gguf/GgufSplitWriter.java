package dev.requant.formats.gguf;

import java.io.IOException;
import java.lang.foreign.MemorySegment;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;

/**
 * Writes one model as the shards gguf-split makes of it (tools/gguf-split/gguf-split.cpp, split_strategy): tensors in
 * their order, a new shard started before the tensor that would cross the limit; the first shard carries all the
 * metadata, every shard the split keys ({@link GgufSplit}), appended in the order gguf-split leaves them:
 * {@code split.no}, {@code split.tensors.count}, {@code split.count}. Tensors are streamed as with {@link GgufWriter}
 * (in order, through {@link #beginTensor}); each shard is a {@link GgufWriter} of its own. Shard files appear only on
 * {@link #commit()}, the first shard last, so an interrupted write never leaves a first shard that points to missing
 * ones.
 */
public final class GgufSplitWriter implements AutoCloseable {
    /** gguf-split's --split-max-tensors default. */
    public static final int DEFAULT_MAX_TENSORS = 128;
    /** gguf-split sizes shards by tensor bytes padded to GGUF_DEFAULT_ALIGNMENT, whatever the file's alignment. */
    private static final int SIZE_ALIGNMENT = GgufMetadata.DEFAULT_ALIGNMENT;

    /**
     * When to start a new shard: after {@code maxTensors} tensors (--split-max-tensors), or before the tensor whose
     * padded bytes would take the shard's tensor data past {@code maxBytes} (--split-max-size; metadata not counted).
     * Exactly one of the two is positive.
     */
    public record Limit(long maxBytes, int maxTensors) {
        public Limit {
            if ((maxBytes > 0) == (maxTensors > 0)) throw new IllegalArgumentException("give either a size or a tensor count limit");
        }

        public static Limit bytes(long maxBytes) { return new Limit(maxBytes, 0); }

        public static Limit tensors(int maxTensors) { return new Limit(0, maxTensors); }

        /**
         * gguf-split's --split-max-size argument: a positive whole number followed by M (10^6 bytes) or G (10^9).
         * Unlike gguf-split, which reads "1.5G" as 1G, anything else is refused.
         */
        public static Limit parseSize(String text) {
            String t = text.trim();
            long unit = t.endsWith("M") ? 1_000_000L : t.endsWith("G") ? 1_000_000_000L : 0;
            if (unit == 0) throw new IllegalArgumentException("split size '" + text + "': give a whole number with M (megabytes) or G (gigabytes), e.g. 50G");
            long n;
            try {
                n = Long.parseLong(t.substring(0, t.length() - 1));
            } catch (NumberFormatException e) {
                throw new IllegalArgumentException("split size '" + text + "': give a whole number with M (megabytes) or G (gigabytes), e.g. 50G");
            }
            if (n <= 0) throw new IllegalArgumentException("split size '" + text + "' must be positive");
            return bytes(Math.multiplyExact(n, unit));
        }

        @Override
        public String toString() {
            return maxBytes > 0 ? String.format(Locale.ROOT, "%d bytes of tensors per shard", maxBytes) : maxTensors + " tensors per shard";
        }
    }

    /** One output file: its metadata and tensors. */
    public record Shard(GgufMetadata metadata, List<GgufTensorSpec> tensors) {}

    /**
     * gguf-split's plan for these tensors: which go in which shard, and each shard's metadata. With
     * {@code noTensorFirstSplit} the first shard holds the metadata only (--no-tensor-first-split).
     *
     * @throws IllegalArgumentException where gguf-split stops with "one of splits have 0 tensors" (the first tensor of
     *     a shard alone is over the size limit)
     */
    public static List<Shard> plan(GgufMetadata metadata, List<GgufTensorSpec> tensors, Limit limit, boolean noTensorFirstSplit) {
        List<List<GgufTensorSpec>> groups = new ArrayList<>();
        groups.add(new ArrayList<>());
        if (noTensorFirstSplit) groups.add(new ArrayList<>());
        long current = 0;
        int n = tensors.size();
        for (int i = 0; i < n; i++) {
            GgufTensorSpec t = tensors.get(i);
            long bytes = GgufFile.pad(t.byteSize(), SIZE_ALIGNMENT);
            long next = current + bytes;
            boolean split = limit.maxBytes() > 0 ? next > limit.maxBytes() : i > 0 && i % limit.maxTensors() == 0;
            if (split) {
                if (groups.getLast().isEmpty()) {
                    throw new IllegalArgumentException("tensor '" + t.name() + "' (" + t.byteSize() + " bytes) does not fit in a shard of "
                            + limit + "; a shard would have no tensors");
                }
                groups.add(new ArrayList<>());
                current = bytes;
            } else {
                current = next;
            }
            groups.getLast().add(t);
        }
        List<Shard> shards = new ArrayList<>();
        for (int i = 0; i < groups.size(); i++) {
            GgufMetadata m = i == 0 ? new GgufMetadata(metadata) : new GgufMetadata();
            m.putLast(GgufKeys.Split.NO, GgufValue.u16(i));
            m.remove(GgufKeys.Split.COUNT);
            m.putLast(GgufKeys.Split.TENSORS_COUNT, GgufValue.i32(n));
            m.putLast(GgufKeys.Split.COUNT, GgufValue.u16(groups.size()));
            shards.add(new Shard(m, List.copyOf(groups.get(i))));
        }
        if (shards.size() > 0xFFFF) throw new IllegalArgumentException(shards.size() + " shards: split.count is a UINT16");
        return shards;
    }

    private final List<Shard> shards;
    private final List<GgufWriter> writers = new ArrayList<>();
    private int current;

    private GgufSplitWriter(List<Shard> shards) {
        this.shards = shards;
    }

    /**
     * Creates the shards {@code prefix-00001-of-0000N.gguf} ... beside {@code prefix} (as temporary files until
     * {@link #commit()}) and writes their headers.
     */
    public static GgufSplitWriter create(Path prefix, GgufMetadata metadata, List<GgufTensorSpec> tensors, Limit limit,
            boolean noTensorFirstSplit) throws IOException {
        GgufSplitWriter w = new GgufSplitWriter(plan(metadata, tensors, limit, noTensorFirstSplit));
        try {
            for (int i = 0; i < w.shards.size(); i++) {
                Shard s = w.shards.get(i);
                w.writers.add(GgufWriter.create(GgufSplit.path(prefix, i, w.shards.size()), s.metadata(), s.tensors()));
            }
        } catch (IOException | RuntimeException e) {
            w.close();
            throw e;
        }
        return w;
    }

    public List<Shard> shards() { return shards; }

    /** The first shard's writer (it holds the model's metadata), for values filled in after the tensors ({@link GgufWriter#updateValue}). */
    public GgufWriter first() { return writers.getFirst(); }

    /** The shard files, in order. */
    public List<Path> paths() {
        return writers.stream().map(GgufWriter::target).toList();
    }

    /** Starts the next tensor (in the order given at creation) in the shard that holds it. */
    public GgufWriter.TensorSink beginTensor(String name) throws IOException {
        while (current < writers.size() && writers.get(current).nextTensor() == null) current++;
        if (current == writers.size()) throw new IllegalStateException("all tensors are already written");
        return writers.get(current).beginTensor(name);
    }

    /** Writes the next tensor whole from a segment. */
    public void writeTensor(String name, MemorySegment data) throws IOException {
        try (GgufWriter.TensorSink s = beginTensor(name)) {
            s.write(data);
        }
    }

    /** Checks that every tensor was written, then puts the shards in place, the first one last. */
    public void commit() throws IOException {
        for (GgufWriter w : writers) {
            if (w.nextTensor() != null) throw new IllegalStateException("tensor '" + w.nextTensor().name() + "' was not written");
        }
        for (int i = writers.size() - 1; i >= 0; i--) writers.get(i).commit();
    }

    @Override
    public void close() throws IOException {
        IOException first = null;
        for (GgufWriter w : writers) {
            try {
                w.close();
            } catch (IOException e) {
                if (first == null) first = e;
            }
        }
        if (first != null) throw first;
    }
}
