package dev.requant.cli;

import dev.requant.formats.TerminalText;
import dev.requant.formats.imatrix.Imatrix;
import dev.requant.formats.imatrix.ImatrixFormat;
import dev.requant.ops.OperationContext;
import dev.requant.ops.OperationException;
import dev.requant.ops.imatrix.CombineImatrix;
import java.io.PrintWriter;
import java.nio.file.Path;
import java.util.List;
import picocli.CommandLine.Option;

/**
 * What merge and convert share: the output options, and the one-line summary of {@link CombineImatrix}'s result.
 */
final class ImatrixOutput {
    @Option(names = {"-o", "--output"}, required = true, paramLabel = "OUT", description = "Output imatrix file.")
    Path output;

    @Option(names = {"--format", "--output-format"}, paramLabel = "FORMAT",
            description = "Output format: ${COMPLETION-CANDIDATES} (default: dat when OUT ends in .dat, else gguf).")
    ImatrixFormat format;

    @Option(names = {"-c", "--chunk-size"}, paramLabel = "N",
            description = {"Tokens per chunk (llama-imatrix's -c): turns legacy ncall values back into token counts, and"
                    + " counts into chunk_count. Default: the chunk size of the first GGUF input, else 512."})
    Integer chunkSize;

    /** Reads every input, combines them in order and writes the result; prints one summary line. */
    void combineAndWrite(List<Path> inputs, PrintWriter out, OperationContext ctx) throws OperationException {
        CombineImatrix.Result r = new CombineImatrix().run(new CombineImatrix.Request(inputs, output, format, chunkSize), ctx);
        Imatrix result = r.imatrix();
        out.printf("%s: %s imatrix, %d entries, %d chunks of %d tokens, datasets %s%n", TerminalText.escapeEach(r.output(),
                r.format().name().toLowerCase(java.util.Locale.ROOT), result.entries().size(), result.chunkCount(),
                result.chunkSize(), result.datasets()));
        out.flush();
    }
}
