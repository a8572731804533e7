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
import java.util.HashMap;
import java.util.Map;
import javax.imageio.ImageIO;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** requant report on the golden gemma3-tiny: files made, one eval, the chart and the JSON; a second run reuses the files. */
class ReportCommandTest {
    @TempDir Path dir;

    @Test
    void chartAndJsonOfStandardTypesAndMixes() throws Exception {
        Path bf16 = dir.resolve("g3.bf16.gguf");
        GgufConversion.write(GemmaPlanner.plan(Golden.hf("gemma3-tiny"), ConversionSettings.of(FileType.BF16)), bf16, null);
        String all = Files.readString(Golden.text("calibration.txt"), StandardCharsets.UTF_8);
        Path calib = Files.writeString(dir.resolve("calib.txt"), all.substring(0, 6_000));
        Path held = Files.writeString(dir.resolve("held.txt"), all.substring(all.length() - 12_000));
        Path out = dir.resolve("report");
        String[] args = {"report", bf16.toString(), "-o", out.toString(), "--imatrix", Golden.llamacpp("gemma3-tiny.imatrix.gguf").toString(),
            "--text", calib.toString(), "--eval-text", held.toString(), "--types", "q4_0,q4_k_m,q8_0", "-c", "64", "--chunks", "4",
            "--mix-ctx-size", "64", "--mix-chunks", "2", "--threads", "2", "--device", "cpu", "--no-progress"};
        CliRun r = CliRun.of(args);
        assertThat(r.code()).as(r.err()).isZero();
        assertThat(r.out()).contains("Q4_0+imatrix", "Q4_K_M", "mix ", "requant mix", "llama.cpp file type + imatrix", "pareto.png");

        JsonNode j = new ObjectMapper().readTree(out.resolve("pareto.json").toFile());
        assertThat(j.get("points")).hasSize(3 + 3 + 3);
        Map<String, JsonNode> byName = new HashMap<>();
        for (JsonNode p : j.get("points")) byName.put(p.get("name").asText(), p);
        // each mix sits at (not above) the size of the type it was made for, and the eval measured every file
        for (String t : new String[] {"Q4_0", "Q4_K_M", "Q8_0"}) {
            JsonNode std = byName.get(t + "+imatrix");
            JsonNode mix = j.get("points").findParents("kind").stream().filter(p -> p.get("kind").asText().equals("mix")
                    && Math.abs(p.get("bpw").asDouble() - std.get("bpw").asDouble()) < 0.01).findFirst().orElseThrow();
            assertThat(mix.get("bpw").asDouble()).isLessThanOrEqualTo(std.get("bpw").asDouble() + 1e-9);
            assertThat(mix.get("kld").asDouble()).isPositive();
        }
        assertThat(byName.get("Q8_0").get("kld").asDouble()).isLessThan(byName.get("Q4_0").get("kld").asDouble());
        BufferedImage img = ImageIO.read(out.resolve("pareto.png").toFile());
        assertThat(img.getWidth()).isEqualTo(ParetoPlot.WIDTH);

        // a second run finds every file and only evaluates
        CliRun again = CliRun.of(args);
        assertThat(again.code()).as(again.err()).isZero();
        assertThat(again.err()).doesNotContain("report: mix at");
    }
}
