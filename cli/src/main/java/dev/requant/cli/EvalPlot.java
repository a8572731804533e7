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
import java.util.Locale;
import javax.imageio.ImageIO;
import org.knowm.xchart.BitmapEncoder;
import org.knowm.xchart.CategoryChart;
import org.knowm.xchart.CategoryChartBuilder;
import org.knowm.xchart.CategorySeries;
import org.knowm.xchart.XYChart;
import org.knowm.xchart.XYChartBuilder;
import org.knowm.xchart.XYSeries;
import org.knowm.xchart.style.Styler;
import org.knowm.xchart.style.markers.SeriesMarkers;

/**
 * The eval chart (XChart): left, each model's KLD distribution as a quantile curve (tokens sorted by KLD, log scale);
 * right, the same-top-token rate per model with its standard error. One PNG, written atomically. Each model keeps one
 * colour in both halves (its curve and its bar), every bar is labelled under itself with the short name that tells
 * the models apart (the legend under the curves gives the full names), and the log axis prints every tick as 1E-n.
 */
final class EvalPlot {
    static final int WIDTH = 760, HEIGHT = 480, BAR_WIDTH = 440;
    /** Smallest KLD drawn (the log axis cannot show zero or the tiny negatives of float rounding). */
    static final double KLD_FLOOR = 1e-8;
    /** One colour per model, in order (Tableau 10: distinct, and readable on white and in print). */
    static final Color[] COLORS = {
        new Color(0x4E79A7), new Color(0xF28E2B), new Color(0xE15759), new Color(0x76B7B2), new Color(0x59A14F),
        new Color(0xEDC948), new Color(0xB07AA1), new Color(0xFF9DA7), new Color(0x9C755F), new Color(0xBAB0AC)
    };

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

    static Color color(int model) {
        return COLORS[model % COLORS.length];
    }

    static XYChart kldChart(EvalResult r) {
        XYChart c = new XYChartBuilder().width(WIDTH).height(HEIGHT)
                .title("KL divergence per token vs " + r.reference())
                .xAxisTitle("tokens, sorted by KLD (%)").yAxisTitle("KLD (nats, log scale)").build();
        c.getStyler().setYAxisLogarithmic(true);
        c.getStyler().setYAxisDecimalPattern("0E0"); // 1E-4 ... 1E0: one format for every decade
        c.getStyler().setXAxisMin(0.0);
        c.getStyler().setXAxisMax(100.0);
        c.getStyler().setXAxisDecimalPattern("0");
        // under the plot, not over the curves (they rise to the right, so no corner inside is free of them)
        c.getStyler().setLegendPosition(Styler.LegendPosition.OutsideS);
        c.getStyler().setLegendLayout(Styler.LegendLayout.Vertical);
        c.getStyler().setLegendBorderColor(Color.WHITE);
        c.getStyler().setChartBackgroundColor(Color.WHITE);
        List<String> labels = labels(r);
        for (int i = 0; i < r.compared().size(); i++) {
            EvalResult.Compared m = r.compared().get(i);
            float[] k = m.report().sortedKld();
            int n = k.length;
            int points = Math.min(n, 1000);
            double[] x = new double[points], y = new double[points];
            for (int j = 0; j < points; j++) {
                int idx = points == 1 ? 0 : (int) Math.round((double) j * (n - 1) / (points - 1));
                // the i-th of n sorted values sits at (i + 1/2) / n; with the axis ends at 0 and 100 the positions are
                // not equally spaced, which keeps XChart from labelling every data position as a tick
                x[j] = 100.0 * (idx + 0.5) / n;
                y[j] = Math.max(KLD_FLOOR, k[idx]);
            }
            String name = labels.get(i).equals(m.name()) ? m.name() : labels.get(i) + ": " + m.name();
            XYSeries s = c.addSeries(String.format(Locale.ROOT, "%s (mean KLD %.4g)", name, m.report().kld().value()), x, y);
            s.setMarker(SeriesMarkers.NONE);
            s.setLineColor(color(i));
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
        c.getStyler().setYAxisDecimalPattern("0");
        // one series per model, each with a value only at its own category, drawn over each other: every bar gets
        // its model's colour and sits centred over its own label
        c.getStyler().setOverlapped(true);
        List<String> labels = labels(r);
        for (int i = 0; i < r.compared().size(); i++) {
            KldReport k = r.compared().get(i).report();
            List<Double> values = new ArrayList<>(), errors = new ArrayList<>();
            for (int j = 0; j < labels.size(); j++) {
                values.add(j == i ? 100 * k.sameTop().value() : 0.0); // XChart takes no gaps: an empty bar
                errors.add(j == i ? 100 * k.sameTop().uncertainty() : 0.0);
            }
            CategorySeries s = c.addSeries(labels.get(i), labels, values, errors);
            s.setFillColor(color(i));
        }
        return c;
    }

    /**
     * What tells the models apart: their names without the part all of them share at the start and at the end
     * (gemma3-1b.Q4_K_M.gguf and gemma3-1b.Q8_0.gguf become Q4_K_M and Q8_0), cut at a '.', '-', '_' or '/'. The
     * full names when that leaves nothing, or the same label twice.
     */
    static List<String> labels(EvalResult r) {
        List<String> names = r.compared().stream().map(EvalResult.Compared::name).toList();
        if (names.size() < 2) return names;
        String first = names.getFirst();
        int pre = first.length(), suf = first.length();
        for (String n : names) {
            pre = Math.min(pre, commonPrefix(first, n));
            suf = Math.min(suf, commonPrefix(new StringBuilder(first).reverse().toString(), new StringBuilder(n).reverse().toString()));
        }
        while (pre > 0 && !isCut(first.charAt(pre - 1))) pre--;
        while (suf > 0 && !isCut(first.charAt(first.length() - suf))) suf--;
        List<String> out = new ArrayList<>();
        for (String n : names) {
            if (pre + suf >= n.length()) return names;
            out.add(n.substring(pre, n.length() - suf));
        }
        return out.stream().distinct().count() == out.size() ? out : names;
    }

    private static int commonPrefix(String a, String b) {
        int i = 0;
        while (i < a.length() && i < b.length() && a.charAt(i) == b.charAt(i)) i++;
        return i;
    }

    private static boolean isCut(char c) {
        return c == '.' || c == '-' || c == '_' || c == '/';
    }
}
