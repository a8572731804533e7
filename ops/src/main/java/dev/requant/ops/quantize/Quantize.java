package dev.requant.ops.quantize;

import dev.requant.converter.quantize.GgufQuantizer;
import dev.requant.converter.quantize.ImatrixInput;
import dev.requant.converter.quantize.QuantizePlan;
import dev.requant.converter.quantize.QuantizePlanner;
import dev.requant.converter.quantize.QuantizeSettings;
import dev.requant.formats.gguf.FileType;
import dev.requant.formats.gguf.GgufShards;
import dev.requant.formats.gguf.GgufSplitWriter;
import dev.requant.formats.imatrix.ImatrixFilter;
import dev.requant.ops.BadInputException;
import dev.requant.ops.Operation;
import dev.requant.ops.OperationContext;
import dev.requant.ops.OperationException;
import dev.requant.ops.OutputPaths;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

/** {@code quantize}: a GGUF file to another file type, as llama-quantize does, bit for bit. */
public final class Quantize implements Operation<Quantize.Request, Quantize.Result> {
    /**
     * @param output the output file, or null for llama-quantize's default ({@code <dir of input>/ggml-model-TYPE.gguf})
     * @param settings the file type and llama-quantize's options; an imatrix given here is used as it is
     * @param imatrix an imatrix file to load into the settings (GGUF or legacy .dat), or null
     * @param imatrixFilter --include-weights / --exclude-weights
     * @param split --split-max-size / --split-max-tensors: the output as gguf-split's shards, or null for one file
     */
    public record Request(Path input, Path output, QuantizeSettings settings, Path imatrix, ImatrixFilter imatrixFilter,
            GgufSplitWriter.Limit split) {
        public Request {
            if (split != null && settings.keepSplit()) throw new IllegalArgumentException("--keep-split and --split-max-size/--split-max-tensors cannot be used together");
        }

        public Request(Path input, Path output, QuantizeSettings settings, Path imatrix, ImatrixFilter imatrixFilter) {
            this(input, output, settings, imatrix, imatrixFilter, null);
        }

        public static Request of(Path input, Path output, FileType type) {
            return new Request(input, output, QuantizeSettings.of(type), null, ImatrixFilter.ALL);
        }

        public Request withImatrix(Path file) {
            return new Request(input, output, settings, file, imatrixFilter, split);
        }

        public Request withSettings(QuantizeSettings s) {
            return new Request(input, output, s, imatrix, imatrixFilter, split);
        }

        public Request withSplit(GgufSplitWriter.Limit limit) {
            return new Request(input, output, settings, imatrix, imatrixFilter, limit);
        }

        /**
         * The output file, with llama-quantize's default when none was given ({@code ggml-model-TYPE.gguf}; with
         * --keep-split the prefix {@code ggml-model-TYPE} of the shards {@code ggml-model-TYPE-00001-of-0000N.gguf}; with a
         * split limit the shards are named the same way).
         */
        public Path outputOrDefault() {
            if (output != null) return output;
            String name = "ggml-model-" + settings.fileType().name() + (settings.keepSplit() || split != null ? "" : ".gguf");
            return input.toAbsolutePath().getParent().resolve(name);
        }
    }

    /** A plan over the open input (one file or its shards); close it to release the input. */
    public record Planned(GgufShards input, QuantizePlan plan) implements AutoCloseable {
        @Override public void close() { input.close(); }
    }

    /** @param output the output file, or with --keep-split or a split limit the first shard */
    public record Result(Path output, FileType type, int tensors, int quantized, long inputBytes, long outputBytes,
            long elements, int fallbacks, double seconds, int files) {
        public double inputBitsPerWeight() { return inputBytes * 8.0 / elements; }

        public double outputBitsPerWeight() { return outputBytes * 8.0 / elements; }
    }

    /** Plans without writing (--dry-run); the caller closes the result. */
    public Planned plan(Request r, OperationContext ctx) throws OperationException {
        FileType type = r.settings().fileType();
        if (!type.producible()) throw new BadInputException(type.notProducibleMessage());
        QuantizeSettings s = r.settings();
        GgufShards in = null;
        try {
            if (r.imatrix() != null) s = s.withImatrix(ImatrixInput.load(r.imatrix(), r.imatrix().toString(), r.imatrixFilter()));
            if (!Files.exists(r.input())) throw new BadInputException(r.input() + ": no such file");
            in = GgufShards.open(r.input());
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
            List<QuantizePlan.OutputShard> shards;
            try {
                shards = plan.outputShards(out, r.split());
            } catch (IllegalArgumentException e) { // gguf-split's "one of splits have 0 tensors", in words
                throw new BadInputException(out + ": cannot split: " + e.getMessage());
            }
            List<Path> inputs = new ArrayList<>();
            for (var f : p.input().files()) inputs.add(f.path());
            if (r.imatrix() != null) inputs.add(r.imatrix());
            for (QuantizePlan.OutputShard o : shards) OutputPaths.checkFile(o.path(), inputs);
            if (plan.requiresImatrix()) throw new BadInputException(p.input().path() + ": " + plan.refusal().orElseThrow());
            if (!plan.problems().isEmpty()) throw new BadInputException(plan.firstProblemMessage());
            long start = System.nanoTime();
            ctx.progress().begin("quantize", Math.max(1, plan.elements() / 1_000_000), "M weights");
            GgufQuantizer.write(plan, out, r.split(), (done, t) -> {
                ctx.checkCancelled();
                ctx.progress().stepTo(done / 1_000_000);
            }, null);
            ctx.progress().end();
            double secs = (System.nanoTime() - start) / 1e9;
            int quantized = (int) plan.tensors().stream().filter(t -> !t.copied()).count();
            return new Result(shards.getFirst().path(), plan.settings().fileType(), plan.tensors().size(), quantized, plan.inputBytes(),
                    plan.outputBytes(), plan.elements(), plan.fallbacks(), secs, shards.size());
        } catch (Exception e) {
            throw OperationException.of(e);
        }
    }
}
