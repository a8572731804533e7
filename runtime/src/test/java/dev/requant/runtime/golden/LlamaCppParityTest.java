package dev.requant.runtime.golden;

import static org.assertj.core.api.Assertions.assertThat;

import dev.requant.converter.ConversionSettings;
import dev.requant.converter.GemmaPlanner;
import dev.requant.converter.GgufConversion;
import dev.requant.converter.ModelSources;
import dev.requant.formats.gguf.FileType;
import dev.requant.formats.model.ModelSource;
import dev.requant.runtime.cpu.CpuModel;
import dev.requant.testmodels.Golden;
import dev.requant.llamacpp.LlamaCppEngine;
import dev.requant.testmodels.LlamaCppProbe;
import java.nio.file.Path;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * The CPU forward pass against the real llama.cpp (node-llama-cpp 3.22.1, F32 KV cache, no flash attention) on F32
 * conversions of the golden models. llama.cpp's CPU GELU is an fp16 lookup table (GGML_GELU_FP16), so the two differ
 * by a few 1e-4 of the logit range where this runtime computes GELU in float; the top token must agree.
 */
class LlamaCppParityTest {
    @TempDir Path dir;

    @ParameterizedTest
    @ValueSource(strings = {"gemma3-tiny", "gemma4-tiny", "gemma4-unified-tiny"})
    void logitsMatchLlamaCpp(String name) throws Exception {
        LlamaCppEngine probe = LlamaCppProbe.forTests();
        Path gguf = dir.resolve(name + ".f32.gguf");
        GgufConversion.write(GemmaPlanner.plan(Golden.hf(name), ConversionSettings.of(FileType.F32)), gguf, null);
        int[] ids = GoldenLogitsTest.inputIds();
        float[][] ref = probe.logits(gguf, ids);
        try (ModelSource src = ModelSources.open(gguf); CpuModel m = CpuModel.load(src, 2)) {
            float[] got = m.newSession(ids.length).logits(ids);
            int nv = m.config().nVocab();
            float[] flat = new float[ids.length * nv];
            int agree = 0;
            for (int t = 0; t < ids.length; t++) {
                System.arraycopy(ref[t], 0, flat, t * nv, nv);
                if (argmax(ref[t], 0, nv) == argmax(got, t * nv, nv)) agree++;
            }
            GoldenLogitsTest.Stats s = GoldenLogitsTest.Stats.of(flat, got);
            System.out.printf("%s vs llama.cpp: max |logit diff| %.3g (%.3g of the range), top-1 agreement %d/%d%n",
                    name, s.maxDiff(), s.maxDiff() / s.range(), agree, ids.length);
            assertThat(s.maxDiff() / s.range()).isLessThan(1e-3);
            assertThat(agree).isGreaterThanOrEqualTo(ids.length - 2);
        }
    }

    private static int argmax(float[] v, int off, int n) {
        int a = 0;
        for (int i = 1; i < n; i++) if (v[off + i] > v[off + a]) a = i;
        return a;
    }
}
