package dev.requant.ops.quantize;

import dev.requant.converter.quantize.GgufQuantizer;
import dev.requant.converter.quantize.ImatrixInput;
import dev.requant.converter.quantize.QuantizePlan;
import dev.requant.converter.quantize.QuantizePlanner;
import dev.requant.converter.quantize.QuantizeSettings;
import dev.requant.formats.gguf.FileType;
import dev.requant.formats.gguf.GgufFile;
import dev.requant.formats.imatrix.ImatrixFilter;
import dev.requant.ops.BadInputException;
import dev.requant.ops.Operation;
import dev.requant.ops.OperationContext;
import dev.requant.ops.OperationException;
import dev.requant.ops.OutputPaths;
import java.nio.file.Files;
import java.nio.file.Path;

/** {@code quantize}: a GGUF file to another file type, as llama-quantize does, bit for bit. */
public final class Quantize implements Operation<Quantize.Request, Quantize.Result> {
    /**
     * @param output the output file, or null for llama-quantize's default ({@code <dir of input>/ggml-model-TYPE.gguf})
     * @param settings the file type and llama-quantize's options; an imatrix given here is used as it is
     * @param imatrix an imatrix file to load into the settings (GGUF or legacy .dat), or null
     * @param imatrixFilter --include-weights / --exclude-weights
     */
    public record Request(Path input, Path output, QuantizeSettings settings, Path imatrix, ImatrixFilter imatrixFilter) {
        public static Request of(Path input, Path output, FileType type) {
            return new Request(input, output, QuantizeSettings.of(type), null, ImatrixFilter.ALL);
        }

        public Request withImatrix(Path file) {
            return new Request(input, output, settings, file, imatrixFilter);
        }

        public Request withSettings(QuantizeSettings s) {
            return new Request(input, output, s, imatrix, imatrixFilter);
        }

        /** The output file, with llama-quantize's default when none was given. */
        public Path outputOrDefault() {
            return output != null ? output : input.toAbsolutePath().getParent().resolve("ggml-model-" + settings.fileType().name() + ".gguf");
        }
    }

    /** A plan over the open input; close it to release the input. */
    public record Planned(GgufFile input, QuantizePlan plan) implements AutoCloseable {
        @Override public void close() { input.close(); }
    }

    public record Result(Path output, FileType type, int tensors, int quantized, long inputBytes, long outputBytes,
            long elements, int fallbacks, double seconds) {
        public double inputBitsPerWeight() { return inputBytes * 8.0 / elements; }

        public double outputBitsPerWeight() { return outputBytes * 8.0 / elements; }
    }

    /** Plans without writing (--dry-run); the caller closes the result. */
    public Planned plan(Request r, OperationContext ctx) throws OperationException {
        FileType type = r.settings().fileType();
        if (!type.producible()) throw new BadInputException(type.notProducibleMessage());
        QuantizeSettings s = r.settings();
        GgufFile in = null;
        try {
            if (r.imatrix() != null) s = s.withImatrix(ImatrixInput.load(r.imatrix(), r.imatrix().toString(), r.imatrixFilter()));
            if (!Files.exists(r.input())) throw new BadInputException(r.input() + ": no such file");
            in = GgufFile.open(r.input());
            return new Planned(in, QuantizePlanner.plan(in, s));
        } catch (Exception e) {
            if (in != null) in.close();
            throw OperationException.of(e);
        }
    }

    @Override
    public Result run(Request r, OperationContext ctx) throws OperationException {
        Path out = r.outputOrDefault();
        OutputPaths.checkFile(out, r.input(), r.imatrix());
        try (Planned p = plan(r, ctx)) {
            QuantizePlan plan = p.plan();
            long start = System.nanoTime();
            ctx.progress().begin("quantize", Math.max(1, plan.elements() / 1_000_000), "M weights");
            GgufQuantizer.write(plan, out, (done, t) -> {
                ctx.checkCancelled();
                ctx.progress().stepTo(done / 1_000_000);
            });
            ctx.progress().end();
            double secs = (System.nanoTime() - start) / 1e9;
            int quantized = (int) plan.tensors().stream().filter(t -> !t.copied()).count();
            return new Result(out, plan.settings().fileType(), plan.tensors().size(), quantized, plan.inputBytes(),
                    plan.outputBytes(), plan.elements(), plan.fallbacks(), secs);
        } catch (Exception e) {
            throw OperationException.of(e);
        }
    }
}
