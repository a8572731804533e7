package dev.requant.cli;

import dev.requant.formats.imatrix.Imatrix;
import dev.requant.formats.imatrix.ImatrixAccumulator;
import dev.requant.formats.imatrix.ImatrixFormat;
import dev.requant.formats.imatrix.ImatrixReader;
import dev.requant.formats.imatrix.ImatrixWriter;
import java.io.IOException;
import java.io.PrintWriter;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;
import picocli.CommandLine.Option;

/**
 * What merge and convert share: the output options and llama-imatrix's load-then-save path
 * ({@code llama-imatrix --in-file A --in-file B -c N [--output-format dat] -o OUT} with no text).
 */
final class ImatrixOutput {
    private static final Logger LOG = LoggerFactory.getLogger(ImatrixOutput.class);
    static final int LLAMA_IMATRIX_DEFAULT_CHUNK = 512;

    @Option(names = {"-o", "--output"}, required = true, paramLabel = "OUT", description = "Output imatrix file.")
    Path output;

    @Option(names = {"--format", "--output-format"}, paramLabel = "gguf|dat",
            description = "Output format (default: dat when OUT ends in .dat, else gguf).")
    ImatrixFormat format;

    @Option(names = {"-c", "--chunk-size"}, paramLabel = "N",
            description = {"Tokens per chunk (llama-imatrix's -c): turns legacy ncall values back into token counts, and"
                    + " counts into chunk_count. Default: the chunk size of the first GGUF input, else 512."})
    Integer chunkSize;

    ImatrixFormat format() { return format != null ? format : ImatrixFormat.forFileName(output); }

    /** Reads every input, combines them in order and writes the result; prints one summary line. */
    void combineAndWrite(List<Path> inputs, PrintWriter out) throws IOException {
        List<Imatrix> read = new ArrayList<>();
        for (Path p : inputs) read.add(ImatrixReader.read(p));
        int chunk = chunkSize != null ? chunkSize : read.stream().filter(i -> !i.legacy()).mapToInt(Imatrix::chunkSize)
                .filter(c -> c > 0).findFirst().orElse(LLAMA_IMATRIX_DEFAULT_CHUNK);
        if (chunk <= 0) throw new UserError("--chunk-size must be positive, got " + chunk);
        ImatrixAccumulator acc = new ImatrixAccumulator(chunk);
        for (int i = 0; i < read.size(); i++) {
            Imatrix im = read.get(i);
            if (!im.legacy() && im.chunkSize() > 0 && im.chunkSize() != chunk) {
                LOG.warn("{}: chunk size {} differs from {}; chunk_count is computed with {}", inputs.get(i), im.chunkSize(), chunk, chunk);
            }
            if (im.legacy() && chunkSize == null) {
                LOG.info("{}: legacy file; its values are scaled back with chunk size {} (set -c to change)", inputs.get(i), chunk);
            }
            try {
                acc.load(im);
            } catch (IllegalArgumentException e) {
                throw new UserError(inputs.get(i) + ": cannot combine with the files before it: " + e.getMessage());
            }
        }
        Imatrix result = acc.snapshot(null);
        for (Path p : inputs) {
            if (p.toAbsolutePath().normalize().equals(output.toAbsolutePath().normalize())) {
                LOG.info("{}: the output replaces an input (written atomically after reading)", output);
            }
        }
        try {
            ImatrixWriter.write(output, result, format());
        } catch (IllegalArgumentException e) {
            throw new UserError(output + ": " + e.getMessage());
        }
        out.printf("%s: %s imatrix, %d entries, %d chunks of %d tokens, datasets %s%n", output,
                format().name().toLowerCase(java.util.Locale.ROOT), result.entries().size(), result.chunkCount(),
                result.chunkSize(), result.datasets());
        out.flush();
    }
}
