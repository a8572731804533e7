package dev.requant.runtime.fp4;

import static org.assertj.core.api.Assertions.assertThat;

import dev.requant.formats.ggml.GgmlType;
import dev.requant.formats.model.ModelSource;
import dev.requant.runtime.TinyGemma;
import dev.requant.runtime.cpu.CpuForwardSession;
import dev.requant.runtime.cpu.CpuModel;
import dev.requant.runtime.cpu.CpuThreads;
import java.util.List;
import java.util.SplittableRandom;
import org.junit.jupiter.api.Test;

/**
 * verify-fp4's dynamic check on the CPU: which paths it reports, the W4A4 call counts, and the row of the session's
 * own W4A4 pass when the session opened for W4A16 cannot run it (a CPU session: NOT RUN with the reason).
 */
class Fp4DynamicCheckTest {
    private static TinyGemma spec(GgmlType t) {
        TinyGemma s = TinyGemma.gemma3().type(t);
        s.nEmbd = 128;
        s.nFf = 256;
        s.headDim = 32;
        s.headDimGlobal = 32;
        s.nLayer = 2;
        s.nVocab = 300;
        s.embdScale = 0.02f;
        return s;
    }

    private static int[] tokens(int n) {
        SplittableRandom r = new SplittableRandom(5);
        int[] t = new int[n];
        for (int i = 0; i < n; i++) t[i] = 3 + r.nextInt(290);
        return t;
    }

    private static Fp4DynamicCheck.PathResult path(Fp4DynamicCheck.Result r, String prefix) {
        return r.paths().stream().filter(p -> p.name().startsWith(prefix)).findFirst()
                .orElseThrow(() -> new AssertionError("no path " + prefix + " in " + r.paths()));
    }

    @Test
    void everyNvfp4ProductTakesQuantizedInputsAndASessionThatCannotSaysSo() throws Exception {
        int nCtx = 32, chunks = 2;
        try (ModelSource q = spec(GgmlType.NVFP4).build(); ModelSource ref = spec(GgmlType.BF16).build(); CpuThreads pool = new CpuThreads(2)) {
            List<Fp4DynamicCheck.Engine> engines = List.of(Fp4DynamicCheck.Engine.of("CPU emulation", new CpuFp4Gemm(pool)));
            Fp4DynamicCheck.Result cpu = Fp4DynamicCheck.run(q, ref, tokens(chunks * nCtx), nCtx, chunks, 2, engines, pool,
                    Fp4DynamicCheck.Thresholds.DEFAULT, (p, c, n) -> {}, null);
            assertThat(cpu.paths()).extracting(Fp4DynamicCheck.PathResult::name)
                    .containsExactly("W4A16 (dequantized weights, float activations)", "W4A4 CPU emulation");
            Fp4DynamicCheck.PathResult w4a16 = path(cpu, "W4A16"), w4a4 = path(cpu, "W4A4 CPU emulation");
            // no input_scale tensors in the tiny model: every product of q, k, v, o, gate, up, down per layer and chunk is dynamic
            assertThat(w4a4.staticScaleCalls()).isZero();
            assertThat(w4a4.dynamicScaleCalls()).isEqualTo((long) chunks * 2 * 7);
            assertThat(w4a4.meanKld()).isGreaterThan(w4a16.meanKld()).isGreaterThan(0);

            // a session opener whose sessions run W4A16 but cannot run W4A4 (the CPU's): its row is there, not run, with the reason
            Fp4DynamicCheck.Result viaSession = Fp4DynamicCheck.run(q, ref, tokens(chunks * nCtx), nCtx, chunks, 2, engines, pool,
                    Fp4DynamicCheck.Thresholds.DEFAULT, (p, c, n) -> {},
                    (c, w, s) -> new CpuForwardSession(new CpuModel(c, w, pool, false, true), s, true));
            Fp4DynamicCheck.PathResult inSession = path(viaSession, "W4A4 " + Fp4DynamicCheck.SESSION_PATH);
            assertThat(inSession.ran()).isFalse();
            assertThat(inSession.notRunReason()).contains("cannot quantize every NVFP4 product");
            assertThat(path(viaSession, "W4A16").meanKld()).isEqualTo(w4a16.meanKld());
            assertThat(viaSession.failures()).isEqualTo(cpu.failures());
        }
    }
}
