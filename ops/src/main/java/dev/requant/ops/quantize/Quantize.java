package dev.requant.ops.quantize;

import org.slf4j.Logger;
import org.slf4j.LoggerFactory;
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
    private static final Logger LOG = LoggerFactory.getLogger(Quantize.class);
    /**
     * @param output the output file, or null for llama-quantize's default ({@code <dir of input>/ggml-model-TYPE.gguf})
     * @param settings the file type and llama-quantize's options; an imatrix given here is used as it is
     * @param imatrix an imatrix file to load into the settings (GGUF or legacy .dat), or null
     * @param imatrixFilter --include-weights / --exclude-weights
     * @param qatLattice --qat auto (see {@link #withQatLattice})
     * @param split --split-max-size / --split-max-tensors: the output as gguf-split's shards, or null for one file
     */
    public record Request(Path input, Path output, QuantizeSettings settings, Path imatrix, ImatrixFilter imatrixFilter, boolean qatLattice,
            GgufSplitWriter.Limit split) {
        public Request {
            if (split != null && settings.keepSplit()) throw new IllegalArgumentException("--keep-split and --split-max-size/--split-max-tensors cannot be used together");
        }

        /** llama-quantize's encoders throughout (no --qat), one output file. */
        public Request(Path input, Path output, QuantizeSettings settings, Path imatrix, ImatrixFilter imatrixFilter) {
            this(input, output, settings, imatrix, imatrixFilter, false, null);
        }

        /** One output file. */
        public Request(Path input, Path output, QuantizeSettings settings, Path imatrix, ImatrixFilter imatrixFilter, boolean qatLattice) {
            this(input, output, settings, imatrix, imatrixFilter, qatLattice, null);
        }

        public static Request of(Path input, Path output, FileType type) {
            return new Request(input, output, QuantizeSettings.of(type), null, ImatrixFilter.ALL);
        }

        public Request withImatrix(Path file) {
            return new Request(input, output, settings, file, imatrixFilter, qatLattice, split);
        }

        public Request withSettings(QuantizeSettings s) {
            return new Request(input, output, s, imatrix, imatrixFilter, qatLattice, split);
        }

        /**
         * --qat auto: a tensor that becomes Q4_0 and whose stored values sit on a Q4_0 lattice is written through
         * lattice recovery (its trained codes and scales) instead of llama.cpp's encoder; the rest as llama-quantize.
         */
        public Request withQatLattice(boolean v) {
            return new Request(input, output, settings, imatrix, imatrixFilter, v, split);
        }

        public Request withSplit(GgufSplitWriter.Limit limit) {
            return new Request(input, output, settings, imatrix, imatrixFilter, qatLattice, limit);
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

    /**
     * Whether {@code r} is worth running in a JVM with the Vector API module (see VectorSupport#pays): the lattice
     * recovery of --qat auto where the plan has Q4_0 tensors (its solver's vector path costs about 1.6 CPU-s less per
     * billion weights than its plain-Java lanes), or a plan with enough weights of a type whose vector encoder pays.
     */
    public static boolean vectorApiPays(Request r, QuantizePlan plan) {
        boolean q4 = plan.tensors().stream().anyMatch(t -> !t.copied() && t.output().type() == dev.requant.formats.ggml.GgmlType.Q4_0);
        return (r.qatLattice() && q4) || GgufQuantizer.vectorApiPays(plan);
    }

    /** Writes a plan with llama.cpp's encoders (or the settings' scale search), the {@code lattice} tensors' Q4_0 through lattice recovery. */
    static void write(QuantizePlan plan, Path out, java.util.Set<String> lattice, OperationContext ctx) throws java.io.IOException {
        write(plan, out, null, lattice, ctx);
    }

    /** As {@link #write(QuantizePlan, Path, java.util.Set, OperationContext)}, as gguf-split's shards when {@code split} is given. */
    static void write(QuantizePlan plan, Path out, GgufSplitWriter.Limit split, java.util.Set<String> lattice, OperationContext ctx)
            throws java.io.IOException {
        LatticeTensors codecs = new LatticeTensors();
        boolean exhaustive = plan.settings().search() == dev.requant.converter.quantize.ScaleSearch.EXHAUSTIVE;
        GgufQuantizer.writePerTensor(plan, out, split, (done, t) -> {
            ctx.checkCancelled();
            ctx.progress().stepTo(done / 1_000_000);
        }, t -> {
            dev.requant.formats.ggml.GgmlType type = t.output().type();
            if (lattice.contains(t.name()) && type == dev.requant.formats.ggml.GgmlType.Q4_0) {
                return codecs.codec(dev.requant.converter.qat.LatticeAnalysis.precisionOf(t.input().type()).orElseThrow());
            }
            return exhaustive ? dev.requant.converter.quantize.search.ExhaustiveCodecs.forType(type) : dev.requant.formats.ggml.BlockCodec.of(type);
        });
    }

    /** The files {@code r} writes (its split or --keep-split shards, or the one output), as run and --dry-run see them. */
    public static List<QuantizePlan.OutputShard> outputShards(QuantizePlan plan, Request r) throws BadInputException {
        try {
            return plan.outputShards(r.outputOrDefault(), r.split());
        } catch (IllegalArgumentException e) { // gguf-split's "one of splits have 0 tensors", in words
            throw new BadInputException(r.outputOrDefault() + ": cannot split: " + e.getMessage());
        }
    }

    @Override
    public Result run(Request r, OperationContext ctx) throws OperationException {
        OutputPaths.checkFile(r.outputOrDefault(), r.input(), r.imatrix()); // before the plan's reading
        try (Planned p = plan(r, ctx)) {
            return write(r, p, ctx);
        }
    }

    /** As {@link #run(Request, OperationContext)} with {@code r}'s plan made already (the caller closes it). */
    public Result run(Request r, Planned p, OperationContext ctx) throws OperationException {
        OutputPaths.checkFile(r.outputOrDefault(), r.input(), r.imatrix());
        return write(r, p, ctx);
    }

    /** Writes {@code r}'s output from its plan, the output path checked. */
    private Result write(Request r, Planned p, OperationContext ctx) throws OperationException {
        Path out = r.outputOrDefault();
        try {
            QuantizePlan plan = p.plan();
            List<QuantizePlan.OutputShard> shards = outputShards(plan, r);
            List<Path> inputs = new ArrayList<>();
            for (var f : p.input().files()) inputs.add(f.path());
            if (r.imatrix() != null) inputs.add(r.imatrix());
            for (QuantizePlan.OutputShard o : shards) OutputPaths.checkFile(o.path(), inputs);
            if (plan.requiresImatrix()) throw new BadInputException(p.input().path() + ": " + plan.refusal().orElseThrow());
            if (!plan.problems().isEmpty()) throw new BadInputException(plan.firstProblemMessage());
            long start = System.nanoTime();
            ctx.progress().begin("quantize", Math.max(1, plan.elements() / 1_000_000), "M weights");
            java.util.Set<String> lattice = java.util.Set.of();
            if (r.qatLattice()) {
                try (dev.requant.formats.model.ModelSource src = dev.requant.converter.ModelSources.open(r.input())) {
                    var q4 = plan.tensors().stream().filter(t -> !t.copied() && t.output().type() == dev.requant.formats.ggml.GgmlType.Q4_0).toList();
                    // measured under the input's names, written under the output's (--prune-layers renumbers blocks)
                    java.util.Set<String> onLattice = LatticeTensors.aligned(src, q4.stream().map(t -> t.input().name()).toList());
                    lattice = q4.stream().filter(t -> onLattice.contains(t.input().name())).map(t -> t.name())
                            .collect(java.util.stream.Collectors.toSet());
                }
                if (!lattice.isEmpty()) LOG.info(lattice.size() + " Q4_0 tensors sit on a lattice: written through lattice recovery (--qat auto)");
            }
            write(plan, out, r.split(), lattice, ctx);
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
