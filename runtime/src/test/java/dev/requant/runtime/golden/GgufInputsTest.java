package dev.requant.runtime.golden;

import static org.assertj.core.api.Assertions.assertThat;

import dev.requant.converter.ConversionSettings;
import dev.requant.converter.GemmaPlanner;
import dev.requant.converter.GgufConversion;
import dev.requant.converter.ModelSources;
import dev.requant.formats.gguf.FileType;
import dev.requant.formats.model.ModelSource;
import dev.requant.formats.tokenizer.Tokenizer;
import dev.requant.runtime.cpu.CpuModel;
import dev.requant.runtime.eval.EvalResult;
import dev.requant.runtime.eval.Evaluator;
import dev.requant.runtime.eval.KldReport;
import dev.requant.testmodels.Golden;
import dev.requant.testmodels.NpyArray;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * GGUF files converted from the golden gemma3-tiny run through the same code path as the HF folder: F32 and BF16
 * conversions give the folder's logits exactly, Q8_0 stays close to transformers, and eval ranks Q8_0 closer to the
 * BF16 reference than Q4_0.
 */
class GgufInputsTest {
    @TempDir static Path dir;
    static Path bf16, f32, q8, q4;

    @BeforeAll
    static void convert() throws Exception {
        Path hf = Golden.hf("gemma3-tiny");
        bf16 = write(hf, FileType.BF16);
        f32 = write(hf, FileType.F32);
        q8 = write(hf, FileType.Q8_0);
        q4 = write(hf, FileType.Q4_0);
    }

    private static Path write(Path hf, FileType t) throws Exception {
        Path out = dir.resolve("gemma3-tiny." + t.cliName() + ".gguf");
        GgufConversion.write(GemmaPlanner.plan(hf, ConversionSettings.of(t)), out, null);
        return out;
    }

    private static float[] logits(Path model, int[] ids) throws Exception {
        try (ModelSource src = ModelSources.open(model); CpuModel m = CpuModel.load(src, 2)) {
            return m.newSession(ids.length).logits(ids);
        }
    }

    @Test
    void floatConversionsGiveTheFolderLogitsExactly() throws Exception {
        int[] ids = GoldenLogitsTest.inputIds();
        float[] folder = logits(Golden.hf("gemma3-tiny"), ids);
        for (Path p : List.of(bf16, f32)) {
            float[] got = logits(p, ids);
            GoldenLogitsTest.Stats s = GoldenLogitsTest.Stats.of(folder, got);
            assertThat(s.maxDiff()).as("%s vs the folder: %s", p.getFileName(), s).isZero();
        }
    }

    @Test
    void q8_0StaysCloseToTransformers() throws Exception {
        int[] ids = GoldenLogitsTest.inputIds();
        NpyArray ref = NpyArray.read(Golden.hf("gemma3-tiny.logits.npy"));
        GoldenLogitsTest.Stats s = GoldenLogitsTest.Stats.of(ref.data(), logits(q8, ids));
        System.out.printf("gemma3-tiny q8_0 GGUF vs transformers: max |logit diff| %.3g (%.3g of the range)%n", s.maxDiff(), s.maxDiff() / s.range());
        assertThat(s.maxDiff() / s.range()).isLessThan(0.03);
    }

    private static dev.requant.runtime.ForwardSession session(CpuModel m) {
        return new dev.requant.runtime.cpu.CpuForwardSession(m, dev.requant.runtime.SessionSpec.eval(128, 1, 128, null), false);
    }

    @Test
    void evalRanksQ8_0CloserToBf16ThanQ4_0() throws Exception {
        String text = Files.readString(Golden.text("calibration.txt"), StandardCharsets.UTF_8).substring(0, 30_000);
        try (ModelSource b = ModelSources.open(bf16); ModelSource s8 = ModelSources.open(q8); ModelSource s4 = ModelSources.open(q4);
             CpuModel mb = CpuModel.load(b, 2); CpuModel m8 = CpuModel.load(s8, 2); CpuModel m4 = CpuModel.load(s4, 2)) {
            Tokenizer tok = Tokenizer.fromMetadata(b.metadata());
            int[] tokens = tok.encode(text, true, false);
            EvalResult r = Evaluator.run(new Evaluator.ModelReference(new Evaluator.Model("bf16", session(mb)), null),
                    List.of(new Evaluator.Model("q8_0", session(m8)), new Evaluator.Model("q4_0", session(m4))), tokens,
                    new Evaluator.Settings(128, 12, tok.vocab().bos()), (m, c, n) -> {});
            KldReport r8 = r.compared().get(0).report(), r4 = r.compared().get(1).report();
            System.out.printf("gemma3-tiny over %d tokens: bf16 PPL %.4f; q8_0 KLD %.6f same-top %.2f%%; q4_0 KLD %.6f same-top %.2f%%%n",
                    r.scoredTokens(), r.referencePpl().value(), r8.kld().value(), 100 * r8.sameTop().value(), r4.kld().value(), 100 * r4.sameTop().value());
            assertThat(r.scoredTokens()).isEqualTo(12 * 63);
            assertThat(r8.kld().value()).isLessThan(r4.kld().value());
            assertThat(r8.kld().value() + 3 * r8.kld().uncertainty()).isLessThan(r4.kld().value() - 3 * r4.kld().uncertainty());
            assertThat(r8.rmsDeltaP().value()).isLessThan(r4.rmsDeltaP().value());
            assertThat(r8.sameTop().value()).isGreaterThanOrEqualTo(r4.sameTop().value());
            assertThat(Math.abs(r8.lnPplRatio().value())).isLessThan(Math.abs(r4.lnPplRatio().value()) + 3 * r4.lnPplRatio().uncertainty());
        }
    }
}
