package dev.requant.runtime.cuda;

import static org.assertj.core.api.Assertions.assertThat;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import dev.requant.converter.ConversionSettings;
import dev.requant.converter.GemmaPlanner;
import dev.requant.converter.GgufConversion;
import dev.requant.converter.ModelSources;
import dev.requant.formats.gguf.FileType;
import dev.requant.cuda.CudaDevice;
import dev.requant.cuda.CudaUnavailableException;
import dev.requant.formats.imatrix.Imatrix;
import dev.requant.formats.imatrix.ImatrixAccumulator;
import dev.requant.formats.imatrix.ImatrixEntry;
import dev.requant.formats.model.GemmaConfig;
import dev.requant.formats.model.ModelSource;
import dev.requant.formats.tokenizer.Tokenizer;
import dev.requant.runtime.ForwardSession;
import dev.requant.runtime.GemmInputs;
import dev.requant.runtime.SessionSpec;
import dev.requant.runtime.cpu.CpuForwardSession;
import dev.requant.runtime.cpu.CpuModel;
import dev.requant.runtime.cpu.CpuThreads;
import dev.requant.runtime.imatrix.ChunkPlan;
import dev.requant.runtime.imatrix.ImatrixCollector;
import dev.requant.runtime.imatrix.ImatrixSettings;
import dev.requant.runtime.model.GemmaWeights;
import dev.requant.testmodels.Golden;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Imatrix collection through the GPU session against the CPU session on the same model and text (skipped without a GPU, with the reason):
 * same entries and token counts, per-tensor relative L2 of the sums within 1e-3 for BF16 models (bf16 GEMM inputs and
 * f16 attention operands are the only differences).
 */
class CudaSessionImatrixTest {
    @TempDir static Path dir;
    static final List<String> REPORTS = new ArrayList<>();

    static CudaDevice gpu() {
        try {
            return CudaDevice.open();
        } catch (CudaUnavailableException e) {
            assumeTrue(false, e.getMessage());
            return null;
        }
    }

    static int[] tokens(ModelSource src, int n) throws Exception {
        String text = Files.readString(Golden.text("calibration.txt"), StandardCharsets.UTF_8).substring(0, 200_000);
        int[] t = Tokenizer.fromMetadata(src.metadata()).encode(text, true, false);
        return java.util.Arrays.copyOf(t, Math.min(n, t.length));
    }

    static Imatrix collect(ForwardSession b, int[] tokens, int bos, ImatrixSettings s, int start) throws Exception {
        return ImatrixCollector.run(tokens, bos, ChunkPlan.of(tokens.length, s), b, start, "calibration.txt",
                (im, at) -> {}, null).imatrix();
    }

    /** Worst per-tensor relative L2 of a against ref; entries and counts must be equal. */
    static double compare(Imatrix a, Imatrix ref, String what) {
        // the order of a file's entries is the writer's business (ImatrixCollectCommandTest checks it against llama-imatrix)
        assertThat(a.entries().keySet()).as(what).containsExactlyInAnyOrderElementsOf(ref.entries().keySet());
        assertThat(a.chunkCount()).isEqualTo(ref.chunkCount());
        double worst = 0;
        String worstName = "";
        for (ImatrixEntry r : ref.entries().values()) {
            ImatrixEntry e = a.entry(r.name()).orElseThrow();
            assertThat(e.counts()).as(r.name()).containsExactly(r.counts());
            double num = 0, den = 0;
            for (int i = 0; i < r.sums().length; i++) {
                assertThat(Float.isFinite(e.sums()[i])).isTrue();
                double d = (double) e.sums()[i] - r.sums()[i];
                num += d * d;
                den += (double) r.sums()[i] * r.sums()[i];
            }
            double rel = Math.sqrt(num / den);
            if (rel > worst) {
                worst = rel;
                worstName = r.name();
            }
        }
        String line = String.format("%-40s worst rel. L2 %.2e (%s)", what, worst, worstName);
        System.out.println("REPORT imatrix-gpu     " + line);
        REPORTS.add(line);
        return worst;
    }

    private static double gpuVsCpu(Path model, ImatrixSettings s, int nTokens, String what) throws Exception {
        return gpuVsCpu(model, s, nTokens, what, GemmInputs.SPLIT_BF16);
    }

    private static double gpuVsCpu(Path model, ImatrixSettings s, int nTokens, String what,
                                   GemmInputs inputs) throws Exception {
        CudaDevice d = gpu();
        try (ModelSource src = ModelSources.open(model)) {
            GemmaConfig c = GemmaConfig.of(src);
            GemmaWeights w = GemmaWeights.load(src, c);
            int bos = Tokenizer.fromMetadata(src.metadata()).vocab().bos();
            int[] tokens = tokens(src, nTokens);
            Imatrix cpu;
            try (ForwardSession b = new CpuForwardSession(new CpuModel(c, w, new CpuThreads(4), true, true),
                    SessionSpec.imatrix(s.nCtx(), 1, new ImatrixAccumulator(s.nCtx()), s.processOutput(), null), true)) {
                cpu = collect(b, tokens, bos, s, 0);
            }
            Imatrix gpu;
            try (ForwardSession b = CudaSession.open(d, c, w, SessionSpec.imatrix(s.nCtx(), s.nSeq(),
                    new ImatrixAccumulator(s.nCtx()), s.processOutput(), inputs), m -> {})) {
                gpu = collect(b, tokens, bos, s, 0);
            }
            return compare(gpu, cpu, what);
        }
    }

    @Test
    void gemma3MatchesTheCpu() throws Exception {
        // 8 chunks of 256 in batches of 4 (sliding window 32 < chunk)
        ImatrixSettings s = new ImatrixSettings(256, 1024, 512, 8, 0, false, 10, 0);
        assertThat(gpuVsCpu(Golden.hf("gemma3-tiny"), s, 4000, "gemma3-tiny bf16, 8 x 256")).isLessThanOrEqualTo(1e-3);
        // odd sizes: chunks of 100, 3 per batch, the last batch holds 2
        ImatrixSettings odd = new ImatrixSettings(100, 300, 512, 5, 0, false, 10, 0);
        assertThat(gpuVsCpu(Golden.hf("gemma3-tiny"), odd, 4000, "gemma3-tiny bf16, 5 x 100")).isLessThanOrEqualTo(1e-3);
        // bf16 inputs (imatrix's default): activations rounded to bf16 once, as llama.cpp's CUDA backend does (~2e-3 measured)
        assertThat(gpuVsCpu(Golden.hf("gemma3-tiny"), s, 4000, "gemma3-tiny bf16, 8 x 256, bf16 inputs",
                GemmInputs.BF16)).isLessThanOrEqualTo(5e-3);
    }

    /**
     * Both input kinds against the real llama-imatrix (the golden file: {@code llama-imatrix -c 256 --chunks 40} over
     * calibration.txt on the BF16 GGUF of gemma3-tiny; its CPU backend rounds activations to bf16 for bf16 weights). The
     * bound is the CPU pass's own (ImatrixCollectCommandTest, measured 1.4e-3): choosing bf16 inputs by default must not
     * take the GPU's imatrix further from llama-imatrix's than requant's CPU pass is.
     */
    @Test
    void bothInputKindsMatchLlamaImatrix() throws Exception {
        CudaDevice d = gpu();
        Imatrix golden = dev.requant.formats.imatrix.ImatrixReader.read(Golden.llamacpp("gemma3-tiny.imatrix.gguf"));
        ImatrixSettings s = new ImatrixSettings(256, 2048, 512, 40, 0, false, 10, 0);
        try (ModelSource src = ModelSources.open(Golden.hf("gemma3-tiny"))) {
            GemmaConfig c = GemmaConfig.of(src);
            GemmaWeights w = GemmaWeights.load(src, c);
            int bos = Tokenizer.fromMetadata(src.metadata()).vocab().bos();
            int[] tokens = tokens(src, 40 * 256);
            assertThat(tokens).hasSize(40 * 256);
            for (GemmInputs inputs : GemmInputs.values()) {
                try (ForwardSession b = CudaSession.open(d, c, w, SessionSpec.imatrix(256, 8,
                        new ImatrixAccumulator(256), false, inputs), m -> {})) {
                    Imatrix gpu = collect(b, tokens, bos, s, 0);
                    assertThat(compare(gpu, golden, "gemma3-tiny 40 x 256 vs llama-imatrix, " + inputs))
                            .isLessThanOrEqualTo(1e-2);
                }
            }
        }
    }

    @Test
    void gemma4WithPerLayerInputsMatchesTheCpu() throws Exception {
        ImatrixSettings s = new ImatrixSettings(128, 512, 512, 8, 0, false, 10, 0);
        assertThat(gpuVsCpu(Golden.hf("gemma4-tiny"), s, 4000, "gemma4-tiny bf16 (PLE, p-rope), 8 x 128")).isLessThanOrEqualTo(1e-3);
        assertThat(gpuVsCpu(Golden.hf("gemma4-tiny"), s, 4000, "gemma4-tiny bf16, 8 x 128, bf16 inputs",
                GemmInputs.BF16)).isLessThanOrEqualTo(5e-3);
    }

    @Test
    void quantizedWeightsAreDequantizedOnTheGpu() throws Exception {
        Path q8 = dir.resolve("gemma3-tiny.q8_0.gguf");
        GgufConversion.write(GemmaPlanner.plan(Golden.hf("gemma3-tiny"), ConversionSettings.of(FileType.Q8_0)), q8, null);
        ImatrixSettings s = new ImatrixSettings(256, 1024, 512, 4, 0, false, 10, 0);
        // Quantized weights become bf16 on the GPU: q * d with an f16 scale d needs more than bf16's 8 significant bits,
        // so the GPU's weights differ from the CPU's exact dequantization by bf16 rounding (measured 4e-3 on the H100)
        assertThat(gpuVsCpu(q8, s, 4000, "gemma3-tiny q8_0 -> bf16, 4 x 256")).isLessThanOrEqualTo(1e-2);
        Path q4 = dir.resolve("gemma3-tiny.q4_0.gguf");
        GgufConversion.write(GemmaPlanner.plan(Golden.hf("gemma3-tiny"), ConversionSettings.of(FileType.Q4_0)), q4, null);
        assertThat(gpuVsCpu(q4, s, 4000, "gemma3-tiny q4_0 -> bf16, 4 x 256")).isLessThanOrEqualTo(1e-2);
        // imatrix's default: bf16 inputs and bf16 weights alone (no low halves), one GEMM per product
        assertThat(gpuVsCpu(q8, s, 4000, "gemma3-tiny q8_0, bf16 inputs", GemmInputs.BF16)).isLessThanOrEqualTo(1e-2);
    }

    @Test
    void resumingOnTheGpuAddsToTheLoadedState() throws Exception {
        CudaDevice d = gpu();
        ImatrixSettings s = new ImatrixSettings(256, 512, 512, 6, 0, false, 10, 0);
        try (ModelSource src = ModelSources.open(Golden.hf("gemma3-tiny"))) {
            GemmaConfig c = GemmaConfig.of(src);
            GemmaWeights w = GemmaWeights.load(src, c);
            int bos = Tokenizer.fromMetadata(src.metadata()).vocab().bos();
            int[] tokens = tokens(src, 4000);
            ImatrixAccumulator cpuAcc = new ImatrixAccumulator(256);
            Imatrix full, firstHalf;
            try (CpuModel m = new CpuModel(c, w, new CpuThreads(4), true, true)) {
                firstHalf = collect(new CpuForwardSession(m, SessionSpec.imatrix(256, 1, new ImatrixAccumulator(256), false, null), false),
                        tokens, bos, s.withMaxChunks(3), 0);
                full = collect(new CpuForwardSession(m, SessionSpec.imatrix(256, 1, cpuAcc, false, null), false), tokens, bos, s, 0);
            }
            ImatrixAccumulator base = new ImatrixAccumulator(256);
            base.load(firstHalf);
            try (ForwardSession b = CudaSession.open(d, c, w, SessionSpec.imatrix(256, 2, base, false, GemmInputs.SPLIT_BF16), m -> {})) {
                assertThat(b.lastChunk()).isEqualTo(3);
                Imatrix resumed = collect(b, tokens, bos, s, 3);
                assertThat(resumed.datasets()).containsExactly("calibration.txt", "calibration.txt");
                assertThat(compare(resumed, full, "gemma3-tiny resumed at chunk 3 on the GPU")).isLessThanOrEqualTo(1e-3);
            }
        }
    }
}
