package dev.requant.cli;

import dev.requant.formats.io.AtomicFile;
import dev.requant.runtime.eval.EvalResult;
import dev.requant.runtime.eval.KldReport;
import java.awt.Color;
import java.awt.Graphics2D;
import java.awt.image.BufferedImage;
import java.io.IOException;
import java.io.OutputStream;
import java.nio.channels.Channels;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import javax.imageio.ImageIO;
import org.knowm.xchart.BitmapEncoder;
import org.knowm.xchart.CategoryChart;
import org.knowm.xchart.CategoryChartBuilder;
import org.knowm.xchart.XYChart;
import org.knowm.xchart.XYChartBuilder;
import org.knowm.xchart.XYSeries;
import org.knowm.xchart.style.markers.SeriesMarkers;

/**
 * The eval chart (XChart): left, each model's KLD distribution as a quantile curve (tokens sorted by KLD, log scale);
 * right, the same-top-token rate per model with its standard error. One PNG, written atomically.
 */
final class EvalPlot {
    static final int WIDTH = 760, HEIGHT = 480, BAR_WIDTH = 440;
    /** Smallest KLD drawn (the log axis cannot show zero or the tiny negatives of float rounding). */
    static final double KLD_FLOOR = 1e-8;

    private EvalPlot() {}

    static void write(EvalResult r, Path out) throws IOException {
        System.setProperty("java.awt.headless", "true");
        BufferedImage left = BitmapEncoder.getBufferedImage(kldChart(r));
        BufferedImage right = BitmapEncoder.getBufferedImage(sameTopChart(r));
        BufferedImage img = new BufferedImage(left.getWidth() + right.getWidth(), Math.max(left.getHeight(), right.getHeight()),
                BufferedImage.TYPE_INT_RGB);
        Graphics2D g = img.createGraphics();
        g.setColor(Color.WHITE);
        g.fillRect(0, 0, img.getWidth(), img.getHeight());
        g.drawImage(left, 0, 0, null);
        g.drawImage(right, left.getWidth(), 0, null);
        g.dispose();
        try (AtomicFile f = AtomicFile.create(out)) {
            OutputStream os = Channels.newOutputStream(f.channel());
            if (!ImageIO.write(img, "png", os)) throw new IOException("no PNG writer available");
            f.commit();
        }
    }

    static XYChart kldChart(EvalResult r) {
        XYChart c = new XYChartBuilder().width(WIDTH).height(HEIGHT)
                .title("KL divergence per token vs " + r.reference())
                .xAxisTitle("tokens, sorted by KLD (%)").yAxisTitle("KLD (nats, log scale)").build();
        c.getStyler().setYAxisLogarithmic(true);
        c.getStyler().setLegendPosition(org.knowm.xchart.style.Styler.LegendPosition.InsideNW);
        c.getStyler().setChartBackgroundColor(Color.WHITE);
        for (EvalResult.Compared m : r.compared()) {
            float[] k = m.report().sortedKld();
            int n = k.length;
            int points = Math.min(n, 1000);
            double[] x = new double[points], y = new double[points];
            for (int i = 0; i < points; i++) {
                int idx = points == 1 ? 0 : (int) Math.round((double) i * (n - 1) / (points - 1));
                x[i] = n == 1 ? 100 : 100.0 * idx / (n - 1);
                y[i] = Math.max(KLD_FLOOR, k[idx]);
            }
            XYSeries s = c.addSeries(String.format(java.util.Locale.ROOT, "%s (mean %.4g)", m.name(), m.report().kld().value()), x, y);
            s.setMarker(SeriesMarkers.NONE);
        }
        return c;
    }

    static CategoryChart sameTopChart(EvalResult r) {
        CategoryChart c = new CategoryChartBuilder().width(BAR_WIDTH).height(HEIGHT)
                .title("Same top token as the reference").xAxisTitle("model").yAxisTitle("%").build();
        c.getStyler().setLegendVisible(false);
        c.getStyler().setChartBackgroundColor(Color.WHITE);
        c.getStyler().setYAxisMin(0.0);
        c.getStyler().setYAxisMax(100.0);
        // model file names are long and alike: slant them so that every one stays readable
        c.getStyler().setXAxisLabelRotation(30);
        List<String> names = new ArrayList<>();
        List<Double> values = new ArrayList<>(), errors = new ArrayList<>();
        for (EvalResult.Compared m : r.compared()) {
            KldReport k = m.report();
            names.add(m.name());
            values.add(100 * k.sameTop().value());
            errors.add(100 * k.sameTop().uncertainty());
        }
        c.addSeries("same top %", names, values, errors);
        return c;
    }
}
