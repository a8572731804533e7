package dev.requant.formats.gguf;

import java.nio.file.Path;
import java.util.Optional;

/**
 * How llama.cpp names and marks the files of a split model (gguf-split, llama-quantize --keep-split): shard i of N is
 * {@code PREFIX-0000i-of-0000N.gguf} (1-based, five digits; llama_split_path), and every shard carries
 * ({@link GgufKeys.Split}) {@code split.no} (UINT16, 0-based), {@code split.count} (UINT16, N) and {@code split.tensors.count} (INT32, the
 * tensors of all shards together). The first shard holds all other metadata; the others hold only these three keys.
 */
public final class GgufSplit {
    private GgufSplit() {}

    /** llama_split_path: {@code prefix-%05d-of-%05d.gguf} with the 1-based shard number. */
    public static Path path(Path prefix, int splitNo, int splitCount) {
        return prefix.resolveSibling(prefix.getFileName() + suffix(splitNo, splitCount));
    }

    /**
     * The shard prefix for an output named {@code out}: {@code out} without a trailing {@code .gguf}, as
     * llama-quantize derives it for --keep-split, so that {@code -o model.gguf} gives {@code model-00001-of-00003.gguf}.
     */
    public static Path outputPrefix(Path out) {
        String name = out.getFileName().toString();
        return name.endsWith(".gguf") && name.length() > 5 ? out.resolveSibling(name.substring(0, name.length() - 5)) : out;
    }

    /**
     * llama_split_prefix: the prefix of a shard's path if its name ends with the suffix of shard {@code splitNo} of
     * {@code splitCount} (and has something before it).
     */
    public static Optional<Path> prefix(Path shard, int splitNo, int splitCount) {
        String name = shard.getFileName().toString();
        String suffix = suffix(splitNo, splitCount);
        if (name.length() <= suffix.length() || !name.endsWith(suffix)) return Optional.empty();
        return Optional.of(shard.resolveSibling(name.substring(0, name.length() - suffix.length())));
    }

    /** {@code -0000i-of-0000N.gguf} for shard index {@code splitNo} of {@code splitCount}. */
    static String suffix(int splitNo, int splitCount) {
        return String.format("-%05d-of-%05d.gguf", splitNo + 1, splitCount);
    }
}
