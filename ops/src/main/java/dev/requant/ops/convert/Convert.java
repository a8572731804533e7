package dev.requant.ops.convert;

import dev.requant.converter.ConversionPlan;
import dev.requant.converter.ConversionSettings;
import dev.requant.converter.Fp8AsQ8;
import dev.requant.converter.GemmaPlanner;
import dev.requant.converter.MmprojPlanner;
import dev.requant.converter.GgufConversion;
import dev.requant.converter.Nvfp4Planning;
import dev.requant.converter.TypeOverrides;
import dev.requant.converter.TypePolicy;
import dev.requant.converter.qat.LatticeStats;
import dev.requant.converter.qat.QatPolicy;
import dev.requant.formats.ggml.BlockCodec;
import dev.requant.formats.ggml.GgmlType;
import dev.requant.formats.gguf.FileType;
import dev.requant.formats.gguf.GgufSplitWriter;
import dev.requant.ops.BadInputException;
import dev.requant.ops.Operation;
import dev.requant.ops.OperationContext;
import dev.requant.ops.OperationException;
import dev.requant.ops.OutputPaths;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;

/**
 * {@code convert}: a Hugging Face Gemma folder (float, QAT or NVFP4) to a GGUF file llama.cpp runs, streamed tensor by
 * tensor, the output appearing only when complete.
 */
public final class Convert implements Operation<Convert.Request, Convert.Result> {
    /**
     * @param type the type of the 2-D weights ({@link FileType#convertible()}), or null for auto: the checkpoint's float
     *     type, NVFP4 weights kept NVFP4
     * @param qat with Q4_0: whether weights trained onto a Q4_0 lattice keep it
     * @param tokenEmbeddingType llama-quantize's --token-embedding-type, or null
     * @param outputTensorType llama-quantize's --output-tensor-type, or null
     * @param modelName general.name, or null for gguf-py's heuristics
     * @param nvfp4Fallback NVFP4 checkpoints: the type for weights llama.cpp would not compute exactly, or null
     * @param nvfp4UpstreamSplit NVFP4 checkpoints: split scales as convert_hf_to_gguf.py does
     * @param threads encoder threads (the output does not depend on it)
     * @param mmproj write the multimodal projector (vision tower + projector) instead of the text model
     * @param fp8AsQ8 FP8 checkpoints: the FP8 weights as Q8_0 whatever the type (convert_hf_to_gguf.py --fp8-as-q8)
     * @param split --split-max-size / --split-max-tensors: the output as gguf-split's shards, or null for one file
     */
    public record Request(Path source, Path output, FileType type, QatPolicy.Mode qat, GgmlType tokenEmbeddingType,
            GgmlType outputTensorType, String modelName, FileType nvfp4Fallback, boolean nvfp4UpstreamSplit, int threads,
            boolean mmproj, boolean fp8AsQ8, GgufSplitWriter.Limit split) {
        public Request(Path source, Path output, FileType type, QatPolicy.Mode qat, GgmlType tokenEmbeddingType,
                GgmlType outputTensorType, String modelName, FileType nvfp4Fallback, boolean nvfp4UpstreamSplit, int threads,
                boolean mmproj, boolean fp8AsQ8) {
            this(source, output, type, qat, tokenEmbeddingType, outputTensorType, modelName, nvfp4Fallback, nvfp4UpstreamSplit, threads,
                    mmproj, fp8AsQ8, null);
        }

        /** The defaults a user gets from {@code requant convert SOURCE -o OUTPUT --type TYPE}. */
        public static Request of(Path source, Path output, FileType type) {
            return new Request(source, output, type, QatPolicy.Mode.AUTO, null, null, null, null, false,
                    Runtime.getRuntime().availableProcessors(), false, false);
        }

        public Request withQat(QatPolicy.Mode mode) {
            return new Request(source, output, type, mode, tokenEmbeddingType, outputTensorType, modelName, nvfp4Fallback,
                    nvfp4UpstreamSplit, threads, mmproj, fp8AsQ8, split);
        }

        public Request withThreads(int n) {
            return new Request(source, output, type, qat, tokenEmbeddingType, outputTensorType, modelName, nvfp4Fallback,
                    nvfp4UpstreamSplit, n, mmproj, fp8AsQ8, split);
        }

        public Request withSplit(GgufSplitWriter.Limit limit) {
            return new Request(source, output, type, qat, tokenEmbeddingType, outputTensorType, modelName, nvfp4Fallback,
                    nvfp4UpstreamSplit, threads, mmproj, fp8AsQ8, limit);
        }
    }

    /** A plan with the QAT measurements made while planning; close it to release the checkpoint. */
    public record Planned(ConversionPlan plan, QatPolicy qat) implements AutoCloseable {
        @Override public void close() { plan.close(); }

        /** Where the converter quietly changed what the user asked for, e.g. token_embd kept Q8_0 by Q4_0's rule. */
        public List<String> surprises() { return Surprises.of(plan); }
    }

    /**
     * @param types "bf16", or "nvfp4 + bf16" when NVFP4 weights were kept
     * @param lattice per tensor class, what the QAT lattice reproduced (empty when no lattice was used)
     * @param files the files written (one, or the shards of a split output, the first first; {@code output} is the first)
     */
    public record Result(Path output, String arch, int tensors, long dataBytes, String types, double seconds,
            Map<String, LatticeStats> lattice, List<Nvfp4Planning.Kept> nvfp4Kept, List<String> nvfp4Dequantized,
            List<String> surprises, List<Path> files) {}

    /**
     * Whether the conversion may recover a QAT lattice (--type q4_0 or q8_0 with --qat auto or on), whose solver's
     * Vector API path costs about 1.6 CPU-s less per billion weights than its plain-Java lanes (BENCHMARKS.md).
     */
    public static boolean latticeMayRun(Request r) {
        return (r.type() == FileType.Q4_0 || r.type() == FileType.Q8_0) && r.qat() != QatPolicy.Mode.OFF;
    }

    /**
     * Whether {@code r} may encode any weights to a block type (what a plan must be made to judge): an output type, a
     * token-embedding or output-tensor type, --fp8-as-q8 or an NVFP4 fallback that is not a float type. A conversion
     * to BF16, F16 or F32 only copies or widens.
     */
    public static boolean mayEncode(Request r) {
        boolean floatType = r.type() == null || !r.type().defaultType().quantized();
        boolean floatFallback = r.nvfp4Fallback() == null || !r.nvfp4Fallback().defaultType().quantized();
        return !floatType || r.fp8AsQ8() || !floatFallback || quantized(r.tokenEmbeddingType()) || quantized(r.outputTensorType());
    }

    private static boolean quantized(GgmlType t) { return t != null && t.quantized(); }

    /**
     * Whether {@code r} is worth running in a JVM with the Vector API module (VectorSupport#pays): a lattice, or enough
     * weights of an output type whose vector encoder pays (Q8_0 and Q4_0 from 400 M weights; BF16, F16 and F32 never).
     */
    public static boolean vectorApiPays(Request r, ConversionPlan plan) {
        if (latticeMayRun(r)) return true;
        Map<GgmlType, Long> weights = new java.util.EnumMap<>(GgmlType.class);
        for (var t : plan.tensors()) weights.merge(t.decision().type(), t.elementCount(), Long::sum);
        return weights.entrySet().stream().anyMatch(e -> dev.requant.formats.ggml.VectorSupport.pays(e.getKey(), false, e.getValue()));
    }

    /** Plans without writing (--dry-run); the caller closes the result. */
    public Planned plan(Request r, OperationContext ctx) throws OperationException {
        check(r);
        try {
            QatPolicy qat = new QatPolicy(r.qat());
            TypePolicy policy = qat.apply(TypeOverrides.apply(TypePolicy.defaults(), r.tokenEmbeddingType(), r.outputTensorType()));
            if (r.fp8AsQ8()) policy = Fp8AsQ8.apply(policy);
            ConversionSettings settings = new ConversionSettings(r.type(), r.modelName(),
                    new ConversionSettings.Nvfp4Options(r.nvfp4Fallback(), r.nvfp4UpstreamSplit()));
            ConversionPlan plan = r.mmproj() ? MmprojPlanner.plan(r.source(), settings, policy) : GemmaPlanner.plan(r.source(), settings, policy);
            Nvfp4Notices.warn(plan, ctx);
            return new Planned(plan, qat);
        } catch (Exception e) {
            throw OperationException.of(e);
        }
    }

    @Override
    public Result run(Request r, OperationContext ctx) throws OperationException {
        if (r.output() == null) throw new BadInputException("convert: no output file given");
        OutputPaths.checkFile(r.output(), r.source());
        try (Planned p = plan(r, ctx)) {
            ConversionPlan plan = p.plan();
            long total = plan.dataBytes();
            ctx.progress().begin("convert", Math.max(1, total >> 20), "MiB");
            long[] done = {0};
            long start = System.nanoTime();
            if (r.split() != null) {
                try { // before writing: gguf-split's "one of splits have 0 tensors", in words
                    GgufSplitWriter.plan(plan.metadata(), plan.specs(), r.split(), false);
                } catch (IllegalArgumentException e) {
                    throw new BadInputException(r.output() + ": cannot split: " + e.getMessage());
                }
            }
            List<Path> files = GgufConversion.write(plan, p.qat().metadata(plan), r.output(), r.split(), (tensor, bytes) -> {
                ctx.checkCancelled();
                done[0] += bytes;
                ctx.progress().stepTo(done[0] >> 20);
            }, w -> p.qat().fillIn(w, plan), r.threads());
            ctx.progress().end();
            double seconds = (System.nanoTime() - start) / 1e9;
            List<Nvfp4Planning.Kept> kept = Nvfp4Planning.kept(plan);
            String types = kept.isEmpty() ? plan.settings().outType().cliName() : "nvfp4 + " + plan.settings().outType().cliName();
            return new Result(files.getFirst(), plan.metadata().architecture().orElse(plan.config().arch().ggufName()), plan.tensors().size(), total, types, seconds,
                    p.qat().latticeClasses(), kept, Nvfp4Planning.dequantized(plan), p.surprises(), files);
        } catch (Exception e) {
            throw OperationException.of(e);
        }
    }

    private static void check(Request r) throws BadInputException {
        if (!Files.exists(r.source())) throw new BadInputException(r.source() + ": no such folder");
        if (!Files.isDirectory(r.source())) throw new BadInputException(r.source() + ": not a folder (convert takes a Hugging Face model folder)");
        if (r.type() != null && !r.type().convertible()) {
            throw new BadInputException("--type " + r.type().cliName() + ": convert writes " + FileType.convertibleNames()
                    + " or auto (use requant quantize for " + r.type().name() + ")");
        }
        if (r.nvfp4Fallback() != null && (r.nvfp4Fallback() == FileType.Q4_0 || !r.nvfp4Fallback().convertible())) {
            throw new BadInputException("--nvfp4-fallback: choose bf16, f16, f32 or q8_0");
        }
        if (r.threads() < 1) throw new BadInputException("--threads must be at least 1");
        for (GgmlType t : new GgmlType[] {r.tokenEmbeddingType(), r.outputTensorType()}) {
            if (t == null) continue;
            try {
                BlockCodec.of(t);
            } catch (UnsupportedOperationException e) {
                throw new BadInputException("requant cannot encode " + t.ggmlName());
            }
        }
    }
}
