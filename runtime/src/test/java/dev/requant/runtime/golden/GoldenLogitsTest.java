package dev.requant.runtime.golden;

import static org.assertj.core.api.Assertions.assertThat;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.requant.converter.ModelSources;
import dev.requant.formats.model.ModelSource;
import dev.requant.runtime.cpu.CpuModel;
import dev.requant.runtime.cpu.Numerics;
import dev.requant.testmodels.Golden;
import dev.requant.testmodels.NpyArray;
import java.nio.file.Path;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * The CPU forward pass on the golden Hugging Face checkpoints (read through the converter's ModelSource view, the same
 * code path as a GGUF file) against transformers' float32 logits for the ids in logits-input.json.
 */
class GoldenLogitsTest {
    static int[] inputIds() throws Exception {
        JsonNode ids = new ObjectMapper().readTree(Golden.hf("logits-input.json").toFile()).get("input_ids");
        int[] out = new int[ids.size()];
        for (int i = 0; i < out.length; i++) out[i] = ids.get(i).asInt();
        return out;
    }

    @ParameterizedTest
    @ValueSource(strings = {"gemma3-tiny", "gemma4-tiny", "gemma4-unified-tiny"})
    void logitsMatchTransformers(String model) throws Exception {
        NpyArray ref = NpyArray.read(Golden.hf(model + ".logits.npy"));
        int[] ids = inputIds();
        assertThat((int) ref.shape()[0]).isEqualTo(ids.length);
        try (ModelSource src = ModelSources.open(Golden.hf(model)); CpuModel exact = CpuModel.load(src, 2);
             CpuModel hfNumerics = new CpuModel(exact.config(), exact.weights(), exact.threads(), false, true, Numerics.TRANSFORMERS_BF16_BUFFERS)) {
            // transformers made these logits with its bf16-rounded buffers (rope inv_freq, the PLE embed_scale: the model
            // was loaded in bf16, then cast to float32); with those reproduced, the logits agree to float32 rounding
            float[] got = hfNumerics.newSession(ids.length).logits(ids);
            Stats s = Stats.of(ref.data(), got);
            // with llama.cpp's numerics the only difference is that rounding, which grows with the position
            Stats e = Stats.of(ref.data(), exact.newSession(ids.length).logits(ids));
            System.out.printf("%s: llama.cpp numerics: max |logit diff| %.3g (%.3g of the range)%n", model, e.maxDiff, e.maxDiff / e.range);
            assertThat(e.maxDiff / e.range).isLessThan(5e-3);
            if (System.getProperty("golden.debug") != null) {
                StringBuilder sb = new StringBuilder();
                for (int t = 0; t < ids.length; t++) {
                    double mx = 0;
                    for (int v = 0; v < (int) ref.shape()[1]; v++) mx = Math.max(mx, Math.abs(ref.data()[t * (int) ref.shape()[1] + v] - got[t * (int) ref.shape()[1] + v]));
                    sb.append(String.format("%d:%.1e ", t, mx));
                }
                System.out.println(sb);
            }
            System.out.printf("%s: transformers bf16-buffer numerics: max |logit diff| %.3g, logit range %.3g, relative %.3g%n", model, s.maxDiff, s.range, s.maxDiff / s.range);
            assertThat(s.maxDiff / s.range).as("%s max |diff| %.3g over range %.3g", model, s.maxDiff, s.range).isLessThan(1e-5);
        }
    }

    record Stats(double maxDiff, double range) {
        static Stats of(float[] ref, float[] got) {
            double lo = Double.POSITIVE_INFINITY, hi = Double.NEGATIVE_INFINITY, max = 0;
            for (int i = 0; i < ref.length; i++) {
                lo = Math.min(lo, ref[i]);
                hi = Math.max(hi, ref[i]);
                max = Math.max(max, Math.abs((double) ref[i] - got[i]));
            }
            return new Stats(max, hi - lo);
        }
    }
}
