package dev.requant.cli;

import static org.assertj.core.api.Assertions.assertThat;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.requant.converter.ConversionSettings;
import dev.requant.converter.GemmaPlanner;
import dev.requant.converter.GgufConversion;
import dev.requant.formats.gguf.FileType;
import dev.requant.testmodels.Golden;
import java.awt.image.BufferedImage;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import javax.imageio.ImageIO;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** requant eval end to end on the golden gemma3-tiny: table, JSON, PNG, a saved base reused, and bad input. */
class EvalCommandTest {
    @TempDir static Path dir;
    static Path q8, q4, text;

    @BeforeAll
    static void prepare() throws Exception {
        Path hf = Golden.hf("gemma3-tiny");
        q8 = dir.resolve("q8_0.gguf");
        q4 = dir.resolve("q4_0.gguf");
        GgufConversion.write(GemmaPlanner.plan(hf, ConversionSettings.of(FileType.Q8_0)), q8, null);
        GgufConversion.write(GemmaPlanner.plan(hf, ConversionSettings.of(FileType.Q4_0)), q4, null);
        text = dir.resolve("text.txt");
        Files.writeString(text, Files.readString(Golden.text("calibration.txt"), StandardCharsets.UTF_8).substring(0, 12_000));
    }


    @Test
    void tableJsonPlotAndSavedBase() throws Exception {
        Path json = dir.resolve("eval.json"), png = dir.resolve("eval.png"), kld = dir.resolve("base.kld");
        CliRun r = CliRun.of("eval", "--base", Golden.hf("gemma3-tiny").toString(), "--compare", q8.toString(), q4.toString(),
                "--text", text.toString(), "-c", "64", "--chunks", "5", "--threads", "2", "--no-progress",
                "--json", json.toString(), "--plot", png.toString(), "--save-base", kld.toString());
        assertThat(r.code()).as(r.err()).isZero();
        assertThat(r.out()).contains("reference   gemma3-tiny", "5 x 64 tokens, 155 scored per model", "PPL(ref)",
                "q8_0.gguf", "q4_0.gguf", "mean KLD", "same top %");
        // the passes' own clock: 3 models x 5 chunks x 64 tokens
        assertThat(r.err()).containsPattern("eval: 960 tokens in [0-9.]+ s: [0-9.]+ tokens/s \\(loading excluded\\)");

        JsonNode j = new ObjectMapper().readTree(json.toFile());
        assertThat(j.get("scored_tokens").asInt()).isEqualTo(5 * 31);
        JsonNode m8 = j.get("models").get(0), m4 = j.get("models").get(1);
        assertThat(m8.get("name").asText()).isEqualTo("q8_0.gguf");
        assertThat(m8.get("kld").get("value").asDouble()).isLessThan(m4.get("kld").get("value").asDouble());
        assertThat(m8.get("kld_percentiles").fieldNames()).toIterable().contains("max", "99.9", "99.0", "median", "min");
        assertThat(m8.get("same_top").get("value").asDouble()).isBetween(0.0, 1.0);

        BufferedImage img = ImageIO.read(png.toFile());
        assertThat(img.getWidth()).isEqualTo(EvalPlot.WIDTH + EvalPlot.BAR_WIDTH);
        assertThat(img.getHeight()).isEqualTo(EvalPlot.HEIGHT);

        // the saved base: llama.cpp's file layout, and a compare against it gives (nearly) the same numbers
        assertThat(Files.size(kld)).isEqualTo(8 + 12 + 4L * 5 * 64 + 2L * 5 * 31 * (1024 + 4));
        CliRun again = CliRun.of("eval", "--base", kld.toString(), "--compare", q8.toString(), "--threads", "2", "--no-progress", "--json", "-");
        assertThat(again.code()).as(again.err()).isZero();
        JsonNode j2 = new ObjectMapper().readTree(again.out());
        assertThat(j2.get("reference_is_logits_file").asBoolean()).isTrue();
        double k1 = m8.get("kld").get("value").asDouble(), k2 = j2.get("models").get(0).get("kld").get("value").asDouble();
        assertThat(k2).isCloseTo(k1, org.assertj.core.data.Offset.offset(0.05 * k1));
        assertThat(j2.get("models").get(0).get("ppl").get("value").asDouble()).isEqualTo(m8.get("ppl").get("value").asDouble());
    }

    @Test
    void modelAloneGivesItsPerplexityWithoutEmptyComparisonTables() {
        CliRun r = CliRun.of("eval", "-m", q8.toString(), "--text", text.toString(), "-c", "64", "--chunks", "3",
                "--threads", "2", "--no-progress", "--device", "cpu");
        assertThat(r.code()).as(r.err()).isZero();
        assertThat(r.out()).contains("reference   q8_0.gguf", "PPL(ref)").doesNotContain("mean KLD", "same top %");
        assertThat(r.err()).contains("eval: 192 tokens in ");
    }

    @Test
    void badInputIsOneClearLine() {
        CliRun noText = CliRun.of("eval", "--base", q8.toString(), "--compare", q4.toString());
        assertThat(noText.code()).isEqualTo(1);
        assertThat(noText.err()).contains("--text FILE is required");
        CliRun tooShort = CliRun.of("eval", "--base", q8.toString(), "--compare", q4.toString(), "--text", text.toString(), "-c", "4096", "--no-progress");
        assertThat(tooShort.code()).isEqualTo(1);
        assertThat(tooShort.err()).contains("needs at least 8192").doesNotContain("at dev.requant");
        CliRun missing = CliRun.of("eval", "--base", dir.resolve("nope.gguf").toString(), "--compare", q4.toString(), "--text", text.toString());
        assertThat(missing.code()).isEqualTo(1);
        assertThat(missing.err()).contains("nope.gguf");
        CliRun notAModel = CliRun.of("eval", "--base", q8.toString(), "--compare", text.toString(), "--text", text.toString());
        assertThat(notAModel.code()).isEqualTo(1);
        assertThat(notAModel.err()).contains("text.txt");
    }
}
