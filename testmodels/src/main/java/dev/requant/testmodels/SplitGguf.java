package dev.requant.testmodels;

import dev.requant.formats.gguf.GgufFile;
import dev.requant.formats.gguf.GgufKeys;
import dev.requant.formats.gguf.GgufMetadata;
import dev.requant.formats.gguf.GgufShards;
import dev.requant.formats.gguf.GgufTensorInfo;
import dev.requant.formats.gguf.GgufValue;
import dev.requant.formats.gguf.GgufWriter;
import java.io.IOException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

/**
 * Split GGUF files for tests, as {@code llama-gguf-split --split --split-max-tensors N} lays them out: the input's
 * tensors in file order, N per shard, {@code PREFIX-00001-of-0000K.gguf}...; the first shard carries every key of the
 * input and each shard ends with split.no, split.tensors.count and split.count (gguf-split sets split.count last).
 */
public final class SplitGguf {
    private SplitGguf() {}

    /** Writes the shards and returns their paths, first first. */
    public static List<Path> split(Path in, String prefix, int maxTensors) throws IOException {
        List<Path> out = new ArrayList<>();
        try (GgufFile f = GgufFile.open(in)) {
            List<GgufTensorInfo> all = f.tensors();
            int n = (all.size() + maxTensors - 1) / maxTensors;
            for (int i = 0; i < n; i++) {
                List<GgufTensorInfo> part = all.subList(i * maxTensors, Math.min(all.size(), (i + 1) * maxTensors));
                GgufMetadata m = i == 0 ? new GgufMetadata(f.metadata()) : new GgufMetadata();
                m.putLast(GgufKeys.Split.NO, GgufValue.u16(i));
                m.putLast(GgufKeys.Split.COUNT, GgufValue.u16(0));
                m.putLast(GgufKeys.Split.TENSORS_COUNT, GgufValue.i32(all.size()));
                m.putLast(GgufKeys.Split.COUNT, GgufValue.u16(n));
                Path p = Path.of(GgufShards.splitPath(prefix, i, n));
                try (GgufWriter w = GgufWriter.create(p, m, part.stream().map(GgufTensorInfo::spec).toList())) {
                    for (GgufTensorInfo t : part) w.writeTensor(t.name(), f.tensorData(t));
                    w.commit();
                }
                out.add(p);
            }
        }
        return out;
    }
}
