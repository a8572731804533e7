package dev.requant.formats.model;

import dev.requant.formats.gguf.GgufMetadata;
import dev.requant.formats.gguf.GgufShards;
import dev.requant.formats.gguf.GgufTensorSpec;
import java.io.IOException;
import java.lang.foreign.MemorySegment;
import java.nio.file.Path;
import java.util.List;
import java.util.NoSuchElementException;
import java.util.Optional;

/**
 * A GGUF model as a {@link ModelSource}: one file, or every shard of a split model when opened by its first shard
 * ({@link GgufShards}, as llama.cpp's loader finds them); tensors are slices of the file mappings.
 */
public final class GgufModelSource implements ModelSource {
    private final GgufShards shards;
    private final List<GgufTensorSpec> specs;

    private GgufModelSource(GgufShards shards) {
        this.shards = shards;
        this.specs = shards.tensors().stream().map(t -> t.info().spec()).toList();
    }

    /** Opens a GGUF file, and the other shards when it is the first of a split model (a later shard is refused). */
    public static GgufModelSource open(Path path) throws IOException {
        return new GgufModelSource(GgufShards.open(path));
    }

    public GgufShards shards() { return shards; }

    @Override public Path path() { return shards.path(); }

    @Override public GgufMetadata metadata() { return shards.metadata(); }

    @Override public List<GgufTensorSpec> tensors() { return specs; }

    @Override
    public Optional<GgufTensorSpec> tensor(String name) {
        return shards.tensor(name).map(t -> t.info().spec());
    }

    @Override
    public MemorySegment data(String name) {
        GgufShards.Tensor t = shards.tensor(name).orElseThrow(() -> new NoSuchElementException(shards.path() + ": no tensor '" + name + "'"));
        return shards.data(t);
    }

    @Override
    public void close() { shards.close(); }
}
