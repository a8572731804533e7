package dev.requant.cli;

import com.fasterxml.jackson.databind.ObjectMapper;
import dev.requant.converter.ConversionPlan;
import dev.requant.converter.ConversionSettings;
import dev.requant.converter.GemmaPlanner;
import dev.requant.converter.GgufConversion;
import dev.requant.converter.HfModelSource;
import dev.requant.converter.ModelSources;
import dev.requant.converter.Nvfp4StaticCheck;
import dev.requant.converter.Nvfp4View;
import dev.requant.converter.OutType;
import dev.requant.cuda.ComputeDevice;
import dev.requant.cuda.CublasLtFp4;
import dev.requant.cuda.CudaDevice;
import dev.requant.cuda.CudaUnavailableException;
import dev.requant.formats.FormatException;
import dev.requant.formats.io.AtomicFile;
import dev.requant.formats.io.InputFiles;
import dev.requant.formats.model.GgufModelSource;
import dev.requant.formats.model.ModelSource;
import dev.requant.formats.safetensors.SafetensorsCheckpoint;
import dev.requant.formats.tokenizer.LlamaVocab;
import dev.requant.formats.tokenizer.Tokenizer;
import dev.requant.runtime.cpu.CpuThreads;
import dev.requant.runtime.fp4.CpuFp4Gemm;
import dev.requant.runtime.fp4.CublasLtFp4Gemm;
import dev.requant.runtime.fp4.CudaFp4Gemm;
import dev.requant.runtime.fp4.Fp4DynamicCheck;
import dev.requant.runtime.fp4.Fp4Gemm;
import dev.requant.testmodels.LlamaCppProbe;
import java.io.IOException;
import java.io.PrintWriter;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.Callable;
import picocli.CommandLine;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;

@Command(name = "verify-fp4", mixinStandardHelpOptions = true,
        description = {
            "Verify an NVFP4 model (ModelOpt / compressed-tensors folder, or an NVFP4 GGUF):",
            " 1. static: every code and block scale decodable, no NaN/Inf, scale ranges, fused-shard scales, llama.cpp headroom",
            "    (weights whose .scale llama.cpp drops; Q8_0 overflow into NaN), error against --reference per tensor;",
            " 2. dynamic (--text): logits of W4A16 and W4A4 (activations quantized to NVFP4 with input_scale) against the",
            "    reference: cuBLASLt block-scaled FP4 on Blackwell (compute capability 10.x/12.x), else a bit-faithful emulation",
            "    on the GPU and on the CPU (which must agree exactly); KLD, same top token, max |dlogit| per path;",
            " 3. engine (--engine): the GGUF run by llama.cpp (node-llama-cpp), non-finite logits flagged.",
            "Exit code 0 when the verdict is PASS, 1 when it is FAIL."
        })
final class VerifyFp4Command implements Callable<Integer> {
    @Parameters(paramLabel = "MODEL", description = "NVFP4 Hugging Face folder or NVFP4 .gguf file.")
    Path model;

    @Option(names = "--reference", paramLabel = "BF16_MODEL", description = "The float model it was quantized from (folder or .gguf).")
    Path reference;

    @Option(names = {"-f", "--text"}, paramLabel = "FILE", description = "Text for the dynamic check (skipped without it).")
    Path text;

    @Option(names = {"-c", "--ctx-size"}, paramLabel = "N", defaultValue = "128", description = "Tokens per chunk (default ${DEFAULT-VALUE}).")
    int nCtx;

    @Option(names = "--chunks", paramLabel = "N", defaultValue = "4", description = "Chunks to run (default ${DEFAULT-VALUE}).")
    int chunks;

    @Option(names = "--device", paramLabel = "DEV", defaultValue = "auto", description = "auto, cpu or cuda for the W4A4 GPU paths (default ${DEFAULT-VALUE}).")
    String device;

    @Option(names = "--engine", description = "Also run the (converted) GGUF in llama.cpp through node-llama-cpp (interop/).")
    boolean engine;

    @Option(names = "--json", paramLabel = "OUT", arity = "0..1", fallbackValue = "-",
            description = "Write the report as JSON to OUT ('-' or no value: JSON alone on stdout).")
    Path json;

    @Option(names = "--threads", paramLabel = "N", description = "CPU threads (default: all cores).")
    Integer threads;

    @CommandLine.Spec
    CommandLine.Model.CommandSpec spec;

    @Override
    public Integer call() throws IOException {
        if (!Files.exists(model)) throw new NoSuchFileException(model.toString(), null, "no such file or folder");
        if (reference != null && !Files.exists(reference)) throw new NoSuchFileException(reference.toString(), null, "no such file or folder");
        ComputeDevice computeDevice;
        try {
            computeDevice = ComputeDevice.parse(device);
        } catch (IllegalArgumentException e) {
            throw new CommandLine.ParameterException(spec.commandLine(), "--device: " + e.getMessage());
        }
        if (nCtx < 2) throw new UserError("-c must be at least 2");
        int nThreads = threads != null ? threads : Runtime.getRuntime().availableProcessors();
        Fp4Report report = new Fp4Report(model.toString(), reference == null ? null : reference.toString());
        boolean hf = Files.isDirectory(model);
        ModelSource ref = reference == null ? null : ModelSources.open(reference);
        try {
            // 1. static
            String arch;
            Nvfp4StaticCheck.Report st;
            if (hf) {
                try (SafetensorsCheckpoint ck = SafetensorsCheckpoint.open(model)) {
                    List<Nvfp4View> views = Nvfp4View.ofCheckpoint(model, ck);
                    arch = dev.requant.converter.GemmaConfig.read(model).arch().ggufName();
                    st = Nvfp4StaticCheck.run(arch, views, ref, Nvfp4StaticCheck.Thresholds.DEFAULT);
                }
            } else {
                try (GgufModelSource g = GgufModelSource.open(model)) {
                    arch = g.metadata().getString("general.architecture").orElse("?");
                    st = Nvfp4StaticCheck.run(arch, Nvfp4View.ofModel(g), ref, Nvfp4StaticCheck.Thresholds.DEFAULT);
                }
            }
            report.staticCheck = st;
            // 2. dynamic
            if (text != null) dynamic(report, ref, computeDevice, nThreads);
            else report.dynamicNotRun = "no --text";
            // 3. engine
            if (engine) engine(report);
            else report.engineNotRun = "no --engine";
        } finally {
            if (ref != null) ref.close();
        }
        PrintWriter out = spec.commandLine().getOut();
        boolean jsonOnly = json != null && json.toString().equals("-");
        if (!jsonOnly) report.print(out);
        if (json != null) {
            ObjectMapper m = PrettyJson.mapper();
            byte[] bytes = m.writeValueAsBytes(report.toJson());
            if (jsonOnly) out.println(new String(bytes, StandardCharsets.UTF_8));
            else {
                try (AtomicFile f = AtomicFile.create(json)) {
                    f.channel().write(java.nio.ByteBuffer.wrap(bytes));
                    f.commit();
                }
            }
        }
        out.flush();
        return report.passed() ? 0 : 1;
    }

    private ModelSource openModel() throws IOException {
        return Files.isDirectory(model) ? HfModelSource.open(model, ConversionSettings.of(OutType.AUTO)) : GgufModelSource.open(model);
    }

    private void dynamic(Fp4Report report, ModelSource ref, ComputeDevice dev, int nThreads) throws IOException {
        InputFiles.requireRegular(text, "text file");
        ModelSource src;
        try {
            src = openModel();
        } catch (FormatException e) {
            report.dynamicNotRun = "the model cannot be read as a GGUF view: " + e.getMessage();
            return;
        }
        List<Fp4Gemm> open = new ArrayList<>();
        CudaDevice gpu = null;
        try (src; CpuThreads pool = new CpuThreads(nThreads)) {
            LlamaVocab vocab = Tokenizer.fromMetadata(src.metadata()).vocab();
            int[] tokens = Tokenizer.fromMetadata(src.metadata()).encode(InputFiles.readText(text, "text file"), true, false);
            if (tokens.length < nCtx) throw new UserError(text + " tokenizes to " + tokens.length + " tokens, fewer than -c " + nCtx);
            List<Fp4DynamicCheck.Engine> engines = new ArrayList<>();
            CpuFp4Gemm cpu = new CpuFp4Gemm(pool);
            engines.add(Fp4DynamicCheck.Engine.of("CPU emulation", cpu));
            String[] why = {null};
            try {
                gpu = dev.open(r -> why[0] = r);
            } catch (CudaUnavailableException e) {
                throw new UserError("--device cuda: " + e.getMessage());
            }
            if (dev == ComputeDevice.CPU) why[0] = "--device cpu";
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
            report.device = gpu == null ? "CPU (" + nThreads + " threads)" : gpu.info().toString();
            report.dynamic = Fp4DynamicCheck.run(src, ref, tokens, nCtx, chunks, vocab.addBos() ? vocab.bos() : -1, engines, pool,
                    Fp4DynamicCheck.Thresholds.DEFAULT, (p, c, n) -> System.err.printf("verify-fp4: %s chunk %d/%d%n", p, c + 1, n));
            report.tokens = Arrays.copyOf(tokens, Math.min(tokens.length, nCtx));
        } catch (FormatException e) {
            report.dynamicNotRun = e.getMessage();
        } finally {
            for (Fp4Gemm g : open) g.close();
            if (gpu != null) gpu.close();
        }
    }

    /** llama.cpp's logits against requant's W4A16 run of the same model on the same ids (every scale applied). */
    private void compareWithW4a16(Fp4Report report, int[] ids, float[][] llama) throws IOException {
        int nThreads = threads != null ? threads : Runtime.getRuntime().availableProcessors();
        try (ModelSource src = openModel(); CpuThreads pool = new CpuThreads(nThreads)) {
            dev.requant.runtime.model.GemmaConfig c = dev.requant.runtime.model.GemmaConfig.of(src);
            dev.requant.runtime.cpu.CpuModel m = new dev.requant.runtime.cpu.CpuModel(c, dev.requant.runtime.model.GemmaWeights.load(src, c), pool, false, true);
            float[] ours = m.newSession(ids.length).logits(ids);
            int nv = c.nVocab();
            double kld = 0;
            int same = 0;
            for (int t = 0; t < ids.length; t++) {
                float[] q = llama[t];
                double lp = lse(ours, t * nv, nv), lq = lse(q, 0, nv);
                int ap = 0, aq = 0;
                for (int i = 0; i < nv; i++) {
                    double p = ours[t * nv + i] - lp;
                    kld += Math.exp(p) * (p - (q[i] - lq));
                    if (ours[t * nv + i] > ours[t * nv + ap]) ap = i;
                    if (q[i] > q[aq]) aq = i;
                }
                if (ap == aq) same++;
            }
            report.engineKld = kld / ids.length;
            report.engineSameTop = (double) same / ids.length;
        } catch (FormatException e) {
            // the checkpoint cannot be viewed as a GGUF (the static check says why)
        }
    }

    private static double lse(float[] x, int o, int n) {
        double max = Double.NEGATIVE_INFINITY;
        for (int i = 0; i < n; i++) max = Math.max(max, x[o + i]);
        double s = 0;
        for (int i = 0; i < n; i++) s += Math.exp(x[o + i] - max);
        return max + Math.log(s);
    }

    private void engine(Fp4Report report) throws IOException {
        LlamaCppProbe.Availability a = LlamaCppProbe.find();
        if (a.probe() == null) {
            report.engineNotRun = "llama.cpp not available: " + a.reason();
            return;
        }
        Path gguf = model;
        Path tmp = null;
        try {
            if (Files.isDirectory(model)) {
                tmp = Files.createTempFile("verify-fp4", ".gguf");
                try (ConversionPlan p = GemmaPlanner.plan(model, ConversionSettings.of(OutType.AUTO))) {
                    GgufConversion.write(p, tmp, null);
                } catch (FormatException e) {
                    report.engineNotRun = "not converted: " + e.getMessage();
                    return;
                }
                gguf = tmp;
            }
            int[] ids = report.tokens != null ? report.tokens : new int[] {2, 3, 4, 5, 6, 7, 8, 9};
            float[][] logits = a.probe().logits(gguf, ids);
            long bad = 0;
            for (float[] r : logits) for (float v : r) if (!Float.isFinite(v)) bad++;
            report.engineNonFinite = bad;
            report.enginePositions = ids.length;
            report.engineVocab = logits.length == 0 ? 0 : logits[0].length;
            if (bad == 0) compareWithW4a16(report, ids, logits);
        } finally {
            if (tmp != null) Files.deleteIfExists(tmp);
        }
    }
}
