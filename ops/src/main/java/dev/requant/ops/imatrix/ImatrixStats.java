package dev.requant.ops.imatrix;

import dev.requant.formats.imatrix.Imatrix;
import dev.requant.formats.imatrix.ImatrixReader;
import dev.requant.formats.imatrix.ImatrixStatistics;
import dev.requant.ops.BadInputException;
import dev.requant.ops.Operation;
import dev.requant.ops.OperationContext;
import dev.requant.ops.OperationException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;

/** {@code imatrix stats}: per-weight statistics of an imatrix, after llama-imatrix --show-statistics. */
public final class ImatrixStats implements Operation<ImatrixStats.Request, ImatrixStats.Result> {
    /** @param top the most important columns to list per weight */
    public record Request(Path file, int top) {}

    /** @param entries layers in numeric order (the file's bytewise order puts blk.10 before blk.2), then by weight */
    public record Result(Imatrix imatrix, List<ImatrixStatistics.Entry> entries) {}

    @Override
    public Result run(Request r, OperationContext ctx) throws OperationException {
        if (r.top() < 0) throw new BadInputException("--top must not be negative");
        try {
            Imatrix im = ImatrixReader.read(r.file());
            List<ImatrixStatistics.Entry> stats = new ArrayList<>(ImatrixStatistics.of(im, r.top()));
            stats.sort(Comparator.comparingInt((ImatrixStatistics.Entry e) -> e.layer().equals("-") ? Integer.MAX_VALUE : Integer.parseInt(e.layer()))
                    .thenComparing(ImatrixStatistics.Entry::name));
            return new Result(im, List.copyOf(stats));
        } catch (Exception e) {
            throw OperationException.of(e);
        }
    }
}
