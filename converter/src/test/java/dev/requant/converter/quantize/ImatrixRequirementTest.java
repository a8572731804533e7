package dev.requant.converter.quantize;

import static org.assertj.core.api.Assertions.assertThat;

import dev.requant.formats.gguf.FileType;
import dev.requant.formats.gguf.GgufFile;
import java.io.IOException;
import java.nio.file.Path;
import java.util.List;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * The types ggml cannot quantize without importance (IQ2_XXS, IQ2_XS, IQ1_S) are refused at planning, naming the
 * tensor and what is missing, also for the token embeddings that llama.cpp's own rule exempts (where llama-quantize
 * aborts on an assertion instead); IQ2_S, which can, is planned.
 */
class ImatrixRequirementTest {
    @TempDir static Path tmp;
    static Path model;

    @BeforeAll
    static void model() throws IOException {
        model = SyntheticLlama.wide8().write(tmp);
    }

    static QuantizePlan plan(QuantizeSettings s) throws IOException {
        try (GgufFile f = GgufFile.open(model)) {
            return QuantizePlanner.plan(f, s);
        }
    }

    @ParameterizedTest
    @ValueSource(strings = {"iq2_xxs", "iq2_xs", "iq1_s", "iq2_s"})
    void tokenEmbeddingsWithoutImportanceAreRefusedWhereGgmlNeedsIt(String type) throws IOException {
        boolean needs = !type.equals("iq2_s");
        QuantizeSettings base = QuantizeSettings.of(FileType.Q8_0).withTensorTypes(List.of(TensorTypeOverride.parse("token_embd=" + type)));
        List<String> none = plan(base).problems();
        ImatrixInput im = new ImatrixInput("calib.imatrix.gguf", SyntheticLlama.wide8().importance(3)); // no token_embd entry
        List<String> noEntry = plan(base.withImatrix(im)).problems();
        if (needs) {
            assertThat(none).containsExactly("token_embd.weight: " + type + " cannot be made without importance data and no imatrix was given"
                    + " (llama-quantize aborts on it); choose another type for it with --token-embedding-type");
            assertThat(noEntry).containsExactly("token_embd.weight: " + type + " cannot be made without importance data and the imatrix calib.imatrix.gguf has no entry"
                    + " for token_embd.weight (llama-quantize aborts on it); choose another type for it with --token-embedding-type");
        } else {
            assertThat(none).isEmpty();
            assertThat(noEntry).isEmpty();
        }
    }
}
