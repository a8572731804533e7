package dev.requant.runtime.cuda;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.within;

import dev.requant.formats.ggml.GgmlType;
import dev.requant.formats.model.ModelSource;
import dev.requant.runtime.TinyGemma;
import dev.requant.runtime.cpu.CpuThreads;
import dev.requant.runtime.fp4.CpuFp4Gemm;
import dev.requant.runtime.fp4.Fp4DynamicCheck;
import java.util.List;
import org.junit.jupiter.api.Test;

/**
 * verify-fp4's whole-model check with the W4A16 pass and the BF16 reference through the GPU forward session against
 * the same check on the CPU (skipped without a GPU, with the reason): NVFP4 weights are exact in bf16, so the paths
 * differ by the session's activation and attention rounding only.
 */
class CudaSessionFp4CheckTest {
    private static TinyGemma spec(GgmlType t) {
        TinyGemma s = TinyGemma.gemma3().type(t);
        s.nEmbd = 256;
        s.nFf = 512;
        s.headDim = 64;
        s.headDimGlobal = 64;
        s.nLayer = 2;
        s.nVocab = 300;
        // small tied embeddings: logits spread enough that the KLD is measurable (0.3 made them one-hot: KLD 0 on the
        // GPU run of 2026-12-06); measured on the CPU: W4A16 KLD 0.0091, same top 53%
        s.embdScale = 0.02f;
        return s;
    }

    @Test
    void w4a16AndReferenceOnTheGpuAgreeWithTheCpu() throws Exception {
        CudaSessionImatrixTest.gpu().close();
        int nCtx = 48;
        int[] tokens = CudaSessionMoeTest.tokens(3 * nCtx, 300, 21);
        try (ModelSource q = spec(GgmlType.NVFP4).build(); ModelSource ref = spec(GgmlType.BF16).build(); CpuThreads pool = new CpuThreads(2)) {
            List<Fp4DynamicCheck.Engine> engines = List.of(Fp4DynamicCheck.Engine.of("CPU emulation", new CpuFp4Gemm(pool)));
            Fp4DynamicCheck.Result cpu = Fp4DynamicCheck.run(q, ref, tokens, nCtx, 3, 2, engines, pool,
                    Fp4DynamicCheck.Thresholds.DEFAULT, (p, c, n) -> {}, null);
            Fp4DynamicCheck.Result gpu = Fp4DynamicCheck.run(q, ref, tokens, nCtx, 3, 2, engines, pool,
                    Fp4DynamicCheck.Thresholds.DEFAULT, (p, c, n) -> {},
                    (c, w, s) -> CudaSession.open(CudaSessionImatrixTest.gpu(), c, w, s, m -> {}));
            Fp4DynamicCheck.PathResult wc = cpu.paths().get(0), wg = gpu.paths().get(0);
            Fp4DynamicCheck.PathResult ac = cpu.paths().get(1), ag = gpu.paths().get(1);
            System.out.printf("REPORT verify-fp4-gpu   W4A16 mean KLD cpu %.6f gpu %.6f, same top %.4f / %.4f; W4A4 (CPU emulation vs the"
                    + " reference) %.6f / %.6f%n", wc.meanKld(), wg.meanKld(), wc.sameTop(), wg.sameTop(), ac.meanKld(), ag.meanKld());
            assertThat(wc.engine()).isEqualTo("CPU");
            assertThat(wg.engine()).startsWith("cuda, ");
            assertThat(wg.positions()).isEqualTo(wc.positions()).isEqualTo(3L * nCtx);
            assertThat(wg.nonFinite()).isZero();
            assertThat(wc.meanKld()).isGreaterThan(1e-3);
            // the GPU's logits differ from the CPU's by ~1e-3 relative (f16 attention operands): the KLD by a few percent at most
            assertThat(wg.meanKld()).isCloseTo(wc.meanKld(), within(0.05 * wc.meanKld() + 1e-6));
            assertThat(ag.meanKld()).isCloseTo(ac.meanKld(), within(0.05 * ac.meanKld() + 1e-6));
            assertThat(wg.sameTop()).isCloseTo(wc.sameTop(), within(0.05));
            assertThat(gpu.paths()).hasSameSizeAs(cpu.paths());
        }
    }
}
