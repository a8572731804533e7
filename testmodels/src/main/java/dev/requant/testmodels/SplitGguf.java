package dev.requant.testmodels;

import dev.requant.formats.gguf.GgufFile;
import dev.requant.formats.gguf.GgufSplitWriter;
import dev.requant.formats.gguf.GgufTensorInfo;
import java.io.IOException;
import java.nio.file.Path;
import java.util.List;

/**
 * Split GGUF files for tests, as {@code llama-gguf-split --split --split-max-tensors N} lays them out
 * ({@link GgufSplitWriter}, whose sets LlamaCppSplitInteropTest compares with gguf-split's byte for byte): the input's
 * tensors in file order, N per shard, {@code PREFIX-00001-of-0000K.gguf}...; the first shard carries every key of the
 * input and each shard ends with split.no, split.tensors.count and split.count.
 */
public final class SplitGguf {
    private SplitGguf() {}

    /** Writes the shards and returns their paths, first first. */
    public static List<Path> split(Path in, String prefix, int maxTensors) throws IOException {
        try (GgufFile f = GgufFile.open(in);
                GgufSplitWriter w = GgufSplitWriter.create(Path.of(prefix), f.metadata(), f.tensors().stream().map(GgufTensorInfo::spec).toList(),
                        GgufSplitWriter.Limit.tensors(maxTensors), false)) {
            for (GgufTensorInfo t : f.tensors()) w.writeTensor(t.name(), f.tensorData(t));
            w.commit();
            return w.paths();
        }
    }
}
