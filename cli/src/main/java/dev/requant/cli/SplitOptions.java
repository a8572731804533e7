package dev.requant.cli;

import dev.requant.formats.gguf.GgufSplitWriter;
import picocli.CommandLine;
import picocli.CommandLine.Option;

/**
 * --split-max-size and --split-max-tensors, which convert and quantize take to write their output as the shards
 * llama.cpp's gguf-split --split makes ({@link GgufSplitWriter}). As in gguf-split, only one of the two may be given.
 */
final class SplitOptions {
    @Option(names = "--split-max-size", paramLabel = "N(M|G)",
            description = "Write the output as shards OUT-00001-of-0000K.gguf ... (OUT without .gguf) of at most N megabytes (M, 10^6 bytes) "
                    + "or gigabytes (G, 10^9) of tensor data each, the first with all the metadata, as llama.cpp's gguf-split --split-max-size does.")
    String maxSize;

    @Option(names = "--split-max-tensors", paramLabel = "N",
            description = "Write the output as shards of at most N tensors each, as gguf-split --split-max-tensors does.")
    String maxTensors;

    /** The limit given, or null for one output file; a bad value is a usage error of {@code cl}. */
    GgufSplitWriter.Limit limit(CommandLine cl) {
        if (maxSize != null && maxTensors != null) {
            throw new CommandLine.ParameterException(cl, "either --split-max-size or --split-max-tensors can be given, not both");
        }
        if (maxSize != null) {
            try {
                return GgufSplitWriter.Limit.parseSize(maxSize);
            } catch (IllegalArgumentException | ArithmeticException e) {
                throw new CommandLine.ParameterException(cl, "--split-max-size: " + e.getMessage());
            }
        }
        if (maxTensors != null) {
            int n;
            try {
                n = Integer.parseInt(maxTensors.trim());
            } catch (NumberFormatException e) {
                throw new CommandLine.ParameterException(cl, "--split-max-tensors: '" + maxTensors + "' is not a whole number");
            }
            if (n < 1) throw new CommandLine.ParameterException(cl, "--split-max-tensors: must be at least 1, got " + n);
            return GgufSplitWriter.Limit.tensors(n);
        }
        return null;
    }
}
