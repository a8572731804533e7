package dev.requant.formats.gguf;

import java.lang.foreign.MemorySegment;
import java.nio.file.Path;
import java.util.List;
import java.util.Optional;

/**
 * The metadata and tensors of one GGUF model, read-only: a single {@link GgufFile}, or every shard of a split model
 * ({@link GgufShards#whole()}), so that a reader handles both the same way.
 */
public interface GgufTensors {
    /** The file that names the model (the first shard of a split one). */
    Path path();

    /** The model's metadata (a split model's first shard's, split keys included). */
    GgufMetadata metadata();

    /** Every tensor, shard by shard. */
    List<GgufTensorInfo> tensors();

    Optional<GgufTensorInfo> tensor(String name);

    /** A tensor's bytes, a slice of its file's mapping (no copy). */
    MemorySegment tensorData(GgufTensorInfo t);
}
