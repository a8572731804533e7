package dev.requant.formats.model;

import dev.requant.formats.gguf.GgufFile;
import dev.requant.formats.gguf.GgufMetadata;
import dev.requant.formats.gguf.GgufTensorInfo;
import dev.requant.formats.gguf.GgufTensorSpec;
import java.io.IOException;
import java.lang.foreign.MemorySegment;
import java.nio.file.Path;
import java.util.List;
import java.util.NoSuchElementException;
import java.util.Optional;

/** A GGUF file as a {@link ModelSource}: tensors are slices of the file mapping. */
public final class GgufModelSource implements ModelSource {
    private final GgufFile file;
    private final List<GgufTensorSpec> specs;

    public GgufModelSource(GgufFile file) {
        this.file = file;
        this.specs = file.tensors().stream().map(GgufTensorInfo::spec).toList();
    }

    public static GgufModelSource open(Path path) throws IOException {
        return new GgufModelSource(GgufFile.open(path));
    }

    public GgufFile file() { return file; }

    @Override public Path path() { return file.path(); }

    @Override public GgufMetadata metadata() { return file.metadata(); }

    @Override public List<GgufTensorSpec> tensors() { return specs; }

    @Override
    public Optional<GgufTensorSpec> tensor(String name) {
        return file.tensor(name).map(GgufTensorInfo::spec);
    }

    @Override
    public MemorySegment data(String name) {
        GgufTensorInfo t = file.tensor(name).orElseThrow(() -> new NoSuchElementException(file.path() + ": no tensor '" + name + "'"));
        return file.tensorData(t);
    }

    @Override
    public void close() { file.close(); }
}
