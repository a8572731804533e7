package dev.requant.ops.imatrix;

import dev.requant.formats.imatrix.Imatrix;
import dev.requant.formats.imatrix.ImatrixAccumulator;
import dev.requant.formats.imatrix.ImatrixFormat;
import dev.requant.formats.imatrix.ImatrixReader;
import dev.requant.formats.imatrix.ImatrixWriter;
import dev.requant.ops.BadInputException;
import dev.requant.ops.Operation;
import dev.requant.ops.OperationContext;
import dev.requant.ops.OperationException;
import dev.requant.ops.OutputPaths;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

/**
 * {@code imatrix merge} and {@code imatrix convert}: llama-imatrix's load-then-save path ({@code llama-imatrix --in-file
 * A --in-file B -c N [--output-format dat] -o OUT} with no text). Sums and token counts add up; one input converts.
 * The output may replace an input: it is written atomically after every input was read.
 */
public final class CombineImatrix implements Operation<CombineImatrix.Request, CombineImatrix.Result> {
    /** llama-imatrix's default -c, used for legacy inputs when nothing else tells the chunk size. */
    public static final int LLAMA_IMATRIX_DEFAULT_CHUNK = 512;

    /**
     * @param format the output format, or null: dat when the name ends in .dat, else gguf
     * @param chunkSize llama-imatrix's -c, or null: the chunk size of the first GGUF input, else 512
     */
    public record Request(List<Path> inputs, Path output, ImatrixFormat format, Integer chunkSize) {
        public Request {
            inputs = List.copyOf(inputs);
        }

        public ImatrixFormat outputFormat() { return format != null ? format : ImatrixFormat.forFileName(output); }
    }

    public record Result(Path output, ImatrixFormat format, Imatrix imatrix) {}

    @Override
    public Result run(Request r, OperationContext ctx) throws OperationException {
        if (r.inputs().isEmpty()) throw new BadInputException("no imatrix files given");
        if (java.nio.file.Files.isDirectory(r.output())) throw new BadInputException(r.output() + ": is a folder; give the output file name");
        OutputPaths.checkFile(r.output(), List.of()); // replacing an input is allowed: it is written after reading
        try {
            List<Imatrix> read = new ArrayList<>();
            for (Path p : r.inputs()) read.add(ImatrixReader.read(p));
            int chunk = r.chunkSize() != null ? r.chunkSize() : read.stream().filter(i -> !i.legacy()).mapToInt(Imatrix::chunkSize)
                    .filter(c -> c > 0).findFirst().orElse(LLAMA_IMATRIX_DEFAULT_CHUNK);
            if (chunk <= 0) throw new BadInputException("--chunk-size must be positive, got " + chunk);
            ImatrixAccumulator acc = new ImatrixAccumulator(chunk);
            for (int i = 0; i < read.size(); i++) {
                Imatrix im = read.get(i);
                if (!im.legacy() && im.chunkSize() > 0 && im.chunkSize() != chunk) {
                    ctx.notice(r.inputs().get(i) + ": chunk size " + im.chunkSize() + " differs from " + chunk
                            + "; chunk_count is computed with " + chunk);
                }
                try {
                    acc.load(im);
                } catch (IllegalArgumentException e) {
                    throw new BadInputException(r.inputs().get(i) + ": cannot combine with the files before it: " + e.getMessage(), e);
                }
            }
            Imatrix result = acc.snapshot(null);
            try {
                ImatrixWriter.write(r.output(), result, r.outputFormat());
            } catch (IllegalArgumentException e) {
                throw new BadInputException(r.output() + ": " + e.getMessage(), e);
            }
            return new Result(r.output(), r.outputFormat(), result);
        } catch (Exception e) {
            throw OperationException.of(e);
        }
    }
}
