package dev.requant.converter.qat;

import static org.assertj.core.api.Assertions.assertThat;

import dev.requant.converter.ConversionPlan;
import dev.requant.converter.ConversionSettings;
import dev.requant.converter.GemmaPlanner;
import dev.requant.converter.GgufConversion;
import dev.requant.formats.gguf.FileType;
import dev.requant.converter.TypePolicy;
import dev.requant.formats.gguf.GgufFile;
import dev.requant.formats.tokenizer.Tokenizer;
import dev.requant.testmodels.Golden;
import dev.requant.llamacpp.LlamaCppEngine;
import dev.requant.testmodels.LlamaCppProbe;
import dev.requant.testmodels.ProbabilityComparison;
import dev.requant.testmodels.QatWeights;
import dev.requant.testmodels.QatWeights.Assignment;
import dev.requant.testmodels.QatWeights.ScaleDtype;
import dev.requant.testmodels.QatWeights.ScaleRule;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The acceptance check of QAT conversion, judged by the real llama.cpp (node-llama-cpp): on a synthetic QAT model whose
 * scales were learned and held in BF16, the next-token distribution of our lattice Q4_0 file is closer to the BF16
 * file's than Q8_0's is, while llama.cpp's Q4_0 rule is far worse. Mean KL divergence over 1,200 positions of the
 * calibration text.
 */
class QatLlamaCppTest {
    @TempDir Path tmp;

    static final int POSITIONS = 1200;

    @Test
    void latticeQ4_0BeatsQ8_0AndLlamaCppsQ4_0() throws IOException {
        LlamaCppEngine probe = LlamaCppProbe.forTests();
        Path dir = QatConversionTest.checkpoint(tmp.resolve("qat-hf"), name -> Assignment.of(ScaleRule.LEARNED, ScaleDtype.BF16));
        Path bf16 = convert(dir, FileType.BF16, QatPolicy.Mode.OFF, "bf16.gguf");
        Path q8 = convert(dir, FileType.Q8_0, QatPolicy.Mode.OFF, "q8_0.gguf");
        Path lattice = convert(dir, FileType.Q4_0, QatPolicy.Mode.AUTO, "q4_0-lattice.gguf");
        Path llama = convert(dir, FileType.Q4_0, QatPolicy.Mode.OFF, "q4_0-llamacpp.gguf");

        int[] ids;
        try (GgufFile f = GgufFile.open(bf16)) {
            String text = Files.readString(Golden.text("calibration.txt"));
            ids = Arrays.copyOf(Tokenizer.fromMetadata(f.metadata()).encode(text.substring(0, 20_000), true, false), POSITIONS);
        }
        float[][] ref = probe.logits(bf16, ids);
        Divergence dq8 = Divergence.of(ref, probe.logits(q8, ids));
        Divergence dLattice = Divergence.of(ref, probe.logits(lattice, ids));
        Divergence dLlama = Divergence.of(ref, probe.logits(llama, ids));
        System.out.printf("QAT (learned, BF16 scales), mean KLD vs BF16 over %d positions (same-top-token):%n"
                + "  q4_0 lattice   %.3e (%.2f%%)%n  q8_0           %.3e (%.2f%%)%n  q4_0 llama.cpp %.3e (%.2f%%)%n",
                POSITIONS, dLattice.meanKld, 100 * dLattice.sameTop, dq8.meanKld, 100 * dq8.sameTop, dLlama.meanKld, 100 * dLlama.sameTop);
        assertThat(dLattice.meanKld).isLessThan(dq8.meanKld);
        assertThat(dLlama.meanKld).isGreaterThan(10 * dq8.meanKld);
        assertThat(dLattice.sameTop).isGreaterThanOrEqualTo(dq8.sameTop);
    }

    static Path convert(Path dir, FileType type, QatPolicy.Mode mode, String name) throws IOException {
        Path out = dir.resolveSibling(name);
        QatPolicy qat = new QatPolicy(mode);
        try (ConversionPlan plan = GemmaPlanner.plan(dir, ConversionSettings.of(type), qat.apply(TypePolicy.defaults()))) {
            GgufConversion.write(plan, qat.metadata(plan), out, null, w -> qat.fillIn(w, plan));
        }
        return out;
    }

    /** Mean KL(reference || other) over positions and the same-top-token rate, in double. */
    record Divergence(double meanKld, double sameTop) {
        static Divergence of(float[][] ref, float[][] other) {
            double kld = 0;
            int same = 0;
            for (int p = 0; p < ref.length; p++) {
                double[] a = ProbabilityComparison.softmax(ref[p]);
                double[] b = ProbabilityComparison.softmax(other[p]);
                for (int i = 0; i < a.length; i++) {
                    if (a[i] > 0) kld += a[i] * (Math.log(a[i]) - Math.log(Math.max(b[i], 1e-300)));
                }
                if (ProbabilityComparison.argmax(ref[p]) == ProbabilityComparison.argmax(other[p])) same++;
            }
            return new Divergence(kld / ref.length, (double) same / ref.length);
        }
    }
}
