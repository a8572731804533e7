package dev.requant.ops.qat;

import dev.requant.converter.ModelSources;
import dev.requant.converter.qat.QatReport;
import dev.requant.formats.model.ModelSource;
import dev.requant.ops.BadInputException;
import dev.requant.ops.Operation;
import dev.requant.ops.OperationContext;
import dev.requant.ops.OperationException;
import java.nio.file.Files;
import java.nio.file.Path;

/**
 * {@code qat-report}: which tensors of a model (and, for a multimodal Hugging Face folder, of its projector) sit on a
 * Q4_0 or Q8_0 lattice, by which scale rule and precision.
 */
public final class QatAnalysis implements Operation<QatAnalysis.Request, QatAnalysis.Result> {
    /** @param rows analyse at most this many rows per tensor, spread evenly (0: every row) */
    public record Request(Path model, int rows, int threads) {}

    public record Result(Path model, QatReport report, int rows) {}

    @Override
    public Result run(Request r, OperationContext ctx) throws OperationException {
        if (!Files.exists(r.model())) throw new BadInputException(r.model() + ": no such file or folder");
        if (r.rows() < 0) throw new BadInputException("--rows must not be negative");
        if (r.threads() < 1) throw new BadInputException("--threads must be at least 1");
        try (ModelSource source = ModelSources.open(r.model())) {
            // a multimodal folder: the vision/audio encoders too (Gemma 4's projector may sit on a Q8_0 lattice)
            java.util.Optional<ModelSource> projector;
            try {
                projector = ModelSources.openProjector(r.model());
            } catch (dev.requant.formats.FormatException e) {
                // the text model is still worth reporting; say why the projector is not in it
                ctx.notice("projector not analysed: " + e.getMessage());
                projector = java.util.Optional.empty();
            }
            try {
                java.util.List<ModelSource> all = projector.isPresent() ? java.util.List.of(source, projector.get()) : java.util.List.of(source);
                return new Result(r.model(), QatReport.analyse(all, r.rows(), r.threads(), name -> ctx.checkCancelled()), r.rows());
            } finally {
                if (projector.isPresent()) projector.get().close();
            }
        } catch (Exception e) {
            throw OperationException.of(e);
        }
    }
}
