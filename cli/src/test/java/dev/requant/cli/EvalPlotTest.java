package dev.requant.cli;

import static org.assertj.core.api.Assertions.assertThat;

import dev.requant.runtime.eval.EvalResult;
import dev.requant.runtime.eval.KldReport;
import java.awt.Color;
import java.awt.image.BufferedImage;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import java.util.Random;
import javax.imageio.ImageIO;
import org.junit.jupiter.api.Test;
import org.knowm.xchart.CategorySeries;
import org.knowm.xchart.XYSeries;

/** The eval chart with 1, 2 and 4 models; the PNGs stay in target/eval-plot-samples for a look. */
class EvalPlotTest {
    static EvalResult result(String... names) {
        return result(4000, names);
    }

    static EvalResult result(int tokens, String... names) {
        List<EvalResult.Compared> models = new ArrayList<>();
        Random rnd = new Random(17);
        for (int m = 0; m < names.length; m++) {
            double scale = Math.pow(10, -4 + 1.1 * m);
            float[] kld = new float[tokens];
            for (int i = 0; i < kld.length; i++) kld[i] = (float) (scale * Math.exp(2 * rnd.nextGaussian()));
            Arrays.sort(kld);
            KldReport.Value v = new KldReport.Value(1, 0.01);
            double mean = 0;
            for (float k : kld) mean += k / kld.length;
            KldReport r = new KldReport(kld.length, v, v, 0.99, v, v, v, new KldReport.Value(mean, mean / 50), Map.of(), v, Map.of(), v,
                    new KldReport.Value(0.995 - 0.06 * m * m / 2.0, 0.004 + 0.002 * m), kld[kld.length - 1], kld);
            models.add(new EvalResult.Compared(names[m], r));
        }
        return new EvalResult("gemma-3-1b-it (BF16)", false, 512, 8, 4000, v(), models);
    }

    private static KldReport.Value v() { return new KldReport.Value(12.5, 0.3); }

    @Test
    void eachModelKeepsOneColourAndEveryBarItsLabel() throws Exception {
        EvalResult r = result("gemma-3-1b-it.Q8_0.gguf", "gemma-3-1b-it.Q6_K.gguf", "gemma-3-1b-it.Q4_K_M.gguf", "gemma-3-1b-it.IQ2_XS.gguf");
        assertThat(EvalPlot.labels(r)).containsExactly("Q8_0", "Q6_K", "Q4_K_M", "IQ2_XS");
        List<Color> lines = EvalPlot.kldChart(r).getSeriesMap().values().stream().map(XYSeries::getLineColor).toList();
        List<Color> bars = EvalPlot.sameTopChart(r).getSeriesMap().values().stream().map(CategorySeries::getFillColor).toList();
        assertThat(lines).hasSize(4).doesNotHaveDuplicates().isEqualTo(bars);
        assertThat(EvalPlot.kldChart(r).getSeriesMap().keySet()).first().asString().startsWith("Q8_0: gemma-3-1b-it.Q8_0.gguf (mean KLD");

        // quantile positions (i + 1/2) / n: inside (0, 100), so with the axis ends the x values are not equally spaced
        // (XChart labels every data position of equally spaced x values: the demo's 756 tokens gave 250 tick labels)
        XYSeries first = EvalPlot.kldChart(result(756, "a.gguf", "b.gguf")).getSeriesMap().values().iterator().next();
        assertThat(first.getXData()[0]).isGreaterThan(0.0);
        assertThat(first.getXData()[first.getXData().length - 1]).isLessThan(100.0);

        Path dir = Path.of("target", "eval-plot-samples");
        Files.createDirectories(dir);
        // 756 tokens: the demo's count (fewer than the 1000 points a curve is drawn with)
        for (EvalResult sample : List.of(r, result("gemma3-tiny.q4_0.gguf"), result(756, "q8.gguf", "lattice-q4_0.gguf", "q4_0.gguf"))) {
            Path png = dir.resolve("eval-" + sample.compared().size() + "-models-" + sample.compared().getFirst().report().count() + "-tokens.png");
            EvalPlot.write(sample, png);
            BufferedImage img = ImageIO.read(png.toFile());
            assertThat(img.getWidth()).isEqualTo(EvalPlot.WIDTH + EvalPlot.BAR_WIDTH);
            // the first model's colour is in the bar half (its bar) as well as in the curve half
            assertThat(contains(img, EvalPlot.WIDTH, img.getWidth(), EvalPlot.color(0))).isTrue();
            assertThat(contains(img, 0, EvalPlot.WIDTH, EvalPlot.color(0))).isTrue();
        }
    }

    @Test
    void labelsFallBackToFullNamesWhenTheyWouldNotTellModelsApart() {
        assertThat(EvalPlot.labels(result("a/x.gguf", "b/x.gguf"))).containsExactly("a", "b");
        assertThat(EvalPlot.labels(result("model.gguf", "model.gguf"))).containsExactly("model.gguf", "model.gguf");
        assertThat(EvalPlot.labels(result("only.gguf"))).containsExactly("only.gguf");
    }

    private static boolean contains(BufferedImage img, int x0, int x1, Color c) {
        for (int y = 0; y < img.getHeight(); y++) {
            for (int x = x0; x < x1; x++) if ((img.getRGB(x, y) & 0xFFFFFF) == (c.getRGB() & 0xFFFFFF)) return true;
        }
        return false;
    }
}
