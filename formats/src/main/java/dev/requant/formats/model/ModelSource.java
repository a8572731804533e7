package dev.requant.formats.model;

import dev.requant.formats.gguf.GgufMetadata;
import dev.requant.formats.gguf.GgufTensorSpec;
import java.lang.foreign.MemorySegment;
import java.nio.file.Path;
import java.util.List;
import java.util.Optional;

/**
 * A model as llama.cpp sees it: GGUF metadata (general.*, arch keys, tokenizer keys) and tensors by GGUF name, each
 * with its GGML type, dims and raw bytes. A GGUF file is one ({@link GgufModelSource}); a Hugging Face folder viewed
 * through the converter's plan is another, without writing a file. Runtime, imatrix and eval read models only through
 * this interface, so "GGUF or HF folder" means the same code path.
 */
public interface ModelSource extends AutoCloseable {
    /** Where the model came from (a .gguf file or a folder), for messages. */
    Path path();

    GgufMetadata metadata();

    /** Tensor specs in file order. */
    List<GgufTensorSpec> tensors();

    Optional<GgufTensorSpec> tensor(String name);

    /**
     * The tensor's bytes in its spec's type and layout (a slice of a mapping where possible). The segment stays valid
     * until the source is closed.
     */
    MemorySegment data(String name);

    @Override
    void close();
}
