package dev.requant.ops.nvfp4;

import dev.requant.converter.ConversionPlan;
import dev.requant.converter.ConversionSettings;
import dev.requant.converter.GemmaPlanner;
import dev.requant.converter.GgufConversion;
import dev.requant.converter.HfModelSource;
import dev.requant.converter.ModelSources;
import dev.requant.converter.Nvfp4StaticCheck;
import dev.requant.converter.Nvfp4View;
import dev.requant.cuda.ComputeDevice;
import dev.requant.cuda.CublasLtFp4;
import dev.requant.cuda.CudaDevice;
import dev.requant.cuda.CudaUnavailableException;
import dev.requant.formats.FormatException;
import dev.requant.formats.model.GgufModelSource;
import dev.requant.formats.model.ModelSource;
import dev.requant.formats.safetensors.SafetensorsCheckpoint;
import dev.requant.formats.tokenizer.LlamaVocab;
import dev.requant.formats.tokenizer.Tokenizer;
import dev.requant.llamacpp.LlamaCppEngine;
import dev.requant.ops.BadInputException;
import dev.requant.ops.EnvironmentException;
import dev.requant.ops.Operation;
import dev.requant.ops.OperationContext;
import dev.requant.ops.OperationException;
import dev.requant.runtime.cpu.CpuModel;
import dev.requant.runtime.device.Sessions;
import dev.requant.runtime.cpu.CpuThreads;
import dev.requant.runtime.eval.KldAccumulator;
import dev.requant.runtime.eval.KldReport;
import dev.requant.runtime.fp4.CpuFp4Gemm;
import dev.requant.runtime.fp4.CublasLtFp4Gemm;
import dev.requant.runtime.fp4.CudaFp4Gemm;
import dev.requant.runtime.fp4.Fp4DynamicCheck;
import dev.requant.runtime.fp4.Fp4Gemm;
import dev.requant.formats.model.GemmaConfig;
import dev.requant.runtime.model.GemmaWeights;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import dev.requant.formats.io.InputFiles;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;

/**
 * {@code verify-fp4}: static checks of an NVFP4 model, its W4A16 / W4A4 logits against a reference (GPU paths where
 * there is a GPU, the CPU emulation always), and optionally its run in llama.cpp ({@link LlamaCppEngine}, an
 * optional component: when node or node-llama-cpp is missing the engine check is reported as not run, with the
 * reason).
 */
public final class VerifyFp4 implements Operation<VerifyFp4.Request, Fp4Verification> {
    /**
     * @param reference the float model it was quantized from, or null
     * @param text text for the dynamic check, or null to skip it
     * @param engine whether to run the model in llama.cpp too
     */
    public record Request(Path model, Path reference, Path text, int nCtx, int chunks, ComputeDevice device, boolean engine, int threads) {
        public static Request of(Path model) {
            return new Request(model, null, null, 128, 4, ComputeDevice.AUTO, false, Runtime.getRuntime().availableProcessors());
        }
    }

    @Override
    public Fp4Verification run(Request r, OperationContext ctx) throws OperationException {
        if (!Files.exists(r.model())) throw new BadInputException(r.model() + ": no such file or folder");
        if (r.reference() != null && !Files.exists(r.reference())) throw new BadInputException(r.reference() + ": no such file or folder");
        if (r.text() != null) requireText(r.text());
        if (r.nCtx() < 2) throw new BadInputException("-c must be at least 2");
        if (r.threads() < 1) throw new BadInputException("--threads must be at least 1");
        try (ModelSource ref = r.reference() == null ? null : ModelSources.open(r.reference())) {
            Nvfp4StaticCheck.Report st = staticCheck(r, ref);
            Dynamic dyn = r.text() != null ? dynamic(r, ref, ctx) : new Dynamic(null, "no --text", null, null);
            Fp4Verification.EngineCheck engine = null;
            String engineNotRun = "no --engine";
            if (r.engine()) {
                LlamaCppEngine.Availability a = LlamaCppEngine.find();
                if (a.engine() == null) engineNotRun = "llama.cpp not available: " + a.reason();
                else {
                    try {
                        engine = engine(r, a.engine(), dyn.tokens());
                        engineNotRun = null;
                    } catch (FormatException e) {
                        engineNotRun = "not converted: " + e.getMessage();
                    }
                }
            }
            return new Fp4Verification(r.model().toString(), r.reference() == null ? null : r.reference().toString(), st,
                    dyn.result(), dyn.notRun(), dyn.device(), dyn.tokens(), engine, engineNotRun);
        } catch (Exception e) {
            throw OperationException.of(e);
        }
    }

    private static Nvfp4StaticCheck.Report staticCheck(Request r, ModelSource ref) throws IOException {
        if (Files.isDirectory(r.model())) {
            try (SafetensorsCheckpoint ck = SafetensorsCheckpoint.open(r.model())) {
                List<Nvfp4View> views = Nvfp4View.ofCheckpoint(r.model(), ck);
                String arch = dev.requant.converter.HfConfig.read(r.model()).arch().ggufName();
                return Nvfp4StaticCheck.run(arch, views, Nvfp4View.fp8OfCheckpoint(r.model(), ck), ref, Nvfp4StaticCheck.Thresholds.DEFAULT);
            }
        }
        try (GgufModelSource g = GgufModelSource.open(r.model())) {
            String arch = g.metadata().getString("general.architecture").orElse("?");
            return Nvfp4StaticCheck.run(arch, Nvfp4View.ofModel(g), ref, Nvfp4StaticCheck.Thresholds.DEFAULT);
        }
    }

    private record Dynamic(Fp4DynamicCheck.Result result, String notRun, String device, int[] tokens) {}

    private static ModelSource openModel(Path model) throws IOException {
        return Files.isDirectory(model) ? HfModelSource.open(model, ConversionSettings.auto()) : GgufModelSource.open(model);
    }

    private static Dynamic dynamic(Request r, ModelSource ref, OperationContext ctx) throws IOException, OperationException {
        ModelSource src;
        try {
            src = openModel(r.model());
        } catch (FormatException e) {
            return new Dynamic(null, "the model cannot be read as a GGUF view: " + e.getMessage(), null, null);
        }
        List<Fp4Gemm> open = new ArrayList<>();
        CudaDevice gpu = null;
        try (src; CpuThreads pool = new CpuThreads(r.threads())) {
            LlamaVocab vocab = Tokenizer.fromMetadata(src.metadata()).vocab();
            int[] tokens = Tokenizer.fromMetadata(src.metadata()).encode(InputFiles.readText(r.text(), "text file"), true, false);
            if (tokens.length < r.nCtx()) throw new BadInputException(r.text() + " tokenizes to " + tokens.length + " tokens, fewer than -c " + r.nCtx());
            List<Fp4DynamicCheck.Engine> engines = new ArrayList<>();
            engines.add(Fp4DynamicCheck.Engine.of("CPU emulation", new CpuFp4Gemm(pool)));
            String[] why = {null};
            try {
                gpu = r.device().open(reason -> why[0] = reason);
            } catch (CudaUnavailableException e) {
                throw new EnvironmentException("--device cuda: " + e.getMessage(), e);
            }
            if (r.device() == ComputeDevice.CPU) why[0] = "--device cpu";
            if (gpu != null) {
                try {
                    CudaFp4Gemm g = new CudaFp4Gemm(gpu);
                    open.add(g);
                    engines.add(Fp4DynamicCheck.Engine.of("CUDA emulation", g));
                } catch (CudaUnavailableException e) {
                    engines.add(Fp4DynamicCheck.Engine.notRun("CUDA emulation", e.getMessage()));
                }
                if (CublasLtFp4.supports(gpu.info())) {
                    try {
                        CublasLtFp4Gemm lt = new CublasLtFp4Gemm(gpu);
                        open.add(lt);
                        engines.add(Fp4DynamicCheck.Engine.of("cuBLASLt native FP4", lt));
                    } catch (CudaUnavailableException e) {
                        engines.add(Fp4DynamicCheck.Engine.notRun("cuBLASLt native FP4", e.getMessage()));
                    }
                } else {
                    engines.add(Fp4DynamicCheck.Engine.notRun("cuBLASLt native FP4", "needs compute capability 10.x or 12.x (Blackwell); "
                            + gpu.info().name() + " is " + gpu.info().computeMajor() + "." + gpu.info().computeMinor()));
                }
            } else {
                engines.add(Fp4DynamicCheck.Engine.notRun("CUDA emulation", "no GPU: " + why[0]));
                engines.add(Fp4DynamicCheck.Engine.notRun("cuBLASLt native FP4", "no GPU: " + why[0]));
            }
            String device = gpu == null ? "CPU (" + r.threads() + " threads)" : gpu.info().toString();
            int chunks = Math.min(r.chunks() <= 0 ? Integer.MAX_VALUE : r.chunks(), tokens.length / r.nCtx());
            ctx.progress().begin("verify-fp4", Math.max(1, (long) chunks * (1 + engines.size() + (gpu == null ? 0 : 1))), "chunk");
            long[] done = {0};
            // with a GPU, the whole-model W4A16 pass and the reference run through eval's GPU forward session
            Fp4DynamicCheck.SessionOpener sessions = gpu == null ? null
                    : (c, w, spec) -> Sessions.open(r.device(), c, w, spec, pool, ctx::notice);
            Fp4DynamicCheck.Result result;
            try {
                result = Fp4DynamicCheck.run(src, ref, tokens, r.nCtx(), r.chunks(), vocab.addBos() ? vocab.bos() : -1,
                        engines, pool, Fp4DynamicCheck.Thresholds.DEFAULT, (p, c, n) -> {
                            ctx.checkCancelled();
                            ctx.progress().stepTo(++done[0]);
                            ctx.progress().message(p + " chunk " + (c + 1) + "/" + n);
                        }, sessions);
            } catch (IOException | OperationException | RuntimeException e) {
                throw e;
            } catch (CudaUnavailableException e) {
                throw new EnvironmentException("--device cuda: " + e.getMessage(), e);
            } catch (Exception e) {
                throw new IllegalStateException(e);
            }
            ctx.progress().end();
            return new Dynamic(result, null, device, Arrays.copyOf(tokens, Math.min(tokens.length, r.nCtx())));
        } catch (FormatException e) {
            return new Dynamic(null, e.getMessage(), null, null);
        } finally {
            for (Fp4Gemm g : open) g.close();
            if (gpu != null) gpu.close();
        }
    }

    /** llama.cpp's logits of the (converted) GGUF, and their divergence from requant's W4A16 of the same ids. */
    private static Fp4Verification.EngineCheck engine(Request r, LlamaCppEngine llama, int[] tokens) throws IOException {
        Path gguf = r.model();
        Path tmp = null;
        try {
            if (Files.isDirectory(r.model())) {
                tmp = Files.createTempFile("verify-fp4", ".gguf");
                try (ConversionPlan p = GemmaPlanner.plan(r.model(), ConversionSettings.auto())) {
                    GgufConversion.write(p, tmp, null);
                }
                gguf = tmp;
            }
            int[] ids = tokens != null ? tokens : new int[] {2, 3, 4, 5, 6, 7, 8, 9};
            float[][] logits = llama.logits(gguf, ids);
            long bad = 0;
            for (float[] row : logits) for (float v : row) if (!Float.isFinite(v)) bad++;
            int vocab = logits.length == 0 ? 0 : logits[0].length;
            KldReport vsW4a16 = bad == 0 ? againstW4a16(r, ids, logits) : null;
            return new Fp4Verification.EngineCheck(ids.length, vocab, bad, vsW4a16 == null ? null : vsW4a16.kld().value(),
                    vsW4a16 == null ? null : vsW4a16.sameTop().value());
        } finally {
            if (tmp != null) Files.deleteIfExists(tmp);
        }
    }

    /** requant's W4A16 (every scale applied) as the base, llama.cpp's logits compared with it: eval's statistics. */
    private static KldReport againstW4a16(Request r, int[] ids, float[][] llama) throws IOException {
        try (ModelSource src = openModel(r.model()); CpuThreads pool = new CpuThreads(r.threads())) {
            GemmaConfig c = GemmaConfig.of(src);
            CpuModel m = new CpuModel(c, GemmaWeights.load(src, c), pool, false, true);
            float[] ours = m.newSession(ids.length).logits(ids);
            int nv = c.nVocab();
            KldAccumulator acc = new KldAccumulator();
            for (int t = 0; t < ids.length; t++) acc.addLogits(ours, t * nv, llama[t], 0, nv, t + 1 < ids.length ? ids[t + 1] : 0);
            return acc.report();
        } catch (FormatException e) {
            return null; // the checkpoint cannot be viewed as a GGUF (the static check says why)
        }
    }

    /** A text input that is a regular file (not missing, not a FIFO that would hang the read). */
    private static void requireText(Path text) throws OperationException {
        try {
            InputFiles.requireRegular(text, "text file");
        } catch (java.io.IOException e) {
            throw OperationException.of(e);
        }
    }
}
