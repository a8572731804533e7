package dev.requant.cli;

import dev.requant.formats.io.AtomicFile;
import dev.requant.ops.report.ParetoReport;
import java.awt.Color;
import java.awt.Font;
import java.io.IOException;
import java.io.OutputStream;
import java.nio.channels.Channels;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;
import org.knowm.xchart.AnnotationText;
import org.knowm.xchart.BitmapEncoder;
import org.knowm.xchart.XYChart;
import org.knowm.xchart.XYChartBuilder;
import org.knowm.xchart.XYSeries;
import org.knowm.xchart.style.Styler;
import org.knowm.xchart.style.markers.SeriesMarkers;

/**
 * The report's chart (XChart): mean KLD (log scale) against bits per weight, one series per kind of file -- llama.cpp's
 * file types without and with the imatrix, requant's mixes -- each joined in order of size, every point labelled.
 * Lower and further left is better: a series under another at the same size is the better recipe.
 */
final class ParetoPlot {
    static final int WIDTH = 900, HEIGHT = 600;
    static final Color[] COLORS = {new Color(0x4E79A7), new Color(0xF28E2B), new Color(0x59A14F)};

    private ParetoPlot() {}

    static XYChart chart(ParetoReport.Result r, String model) {
        XYChart c = new XYChartBuilder().width(WIDTH).height(HEIGHT).title("Size vs KL divergence: " + model)
                .xAxisTitle("bits per weight (tensor bytes x 8 / weights)").yAxisTitle("mean KLD vs the unquantized model (nats, log scale)").build();
        c.getStyler().setYAxisLogarithmic(true);
        c.getStyler().setYAxisDecimalPattern("0E0");
        c.getStyler().setXAxisDecimalPattern("0.0");
        c.getStyler().setLegendPosition(Styler.LegendPosition.InsideNE);
        c.getStyler().setChartBackgroundColor(Color.WHITE);
        c.getStyler().setAnnotationTextFont(new Font(Font.SANS_SERIF, Font.PLAIN, 10));
        c.getStyler().setMarkerSize(8);
        for (ParetoReport.Kind k : ParetoReport.Kind.values()) {
            List<ParetoReport.Point> ps = new ArrayList<>(r.points().stream().filter(p -> p.kind() == k).toList());
            if (ps.isEmpty()) continue;
            ps.sort(Comparator.comparingDouble(ParetoReport.Point::bitsPerWeight));
            double[] x = ps.stream().mapToDouble(ParetoReport.Point::bitsPerWeight).toArray();
            double[] y = ps.stream().mapToDouble(p -> Math.max(EvalPlot.KLD_FLOOR, p.report().kld().value())).toArray();
            XYSeries s = c.addSeries(k.label(), x, y);
            s.setMarker(k == ParetoReport.Kind.MIX ? SeriesMarkers.DIAMOND : k == ParetoReport.Kind.IMATRIX ? SeriesMarkers.SQUARE : SeriesMarkers.CIRCLE);
            Color col = COLORS[k.ordinal()];
            s.setLineColor(col);
            s.setMarkerColor(col);
            for (ParetoReport.Point p : ps) {
                if (k == ParetoReport.Kind.MIX) continue; // the mixes sit at the standard types' sizes: their labels would overlap
                String label = p.name().replace("+imatrix", "+i");
                // static labels above the point, imatrix labels below it
                double f = k == ParetoReport.Kind.STATIC ? 1.25 : 0.8;
                c.addAnnotation(new AnnotationText(label, p.bitsPerWeight(), Math.max(EvalPlot.KLD_FLOOR, p.report().kld().value()) * f, false));
            }
        }
        return c;
    }

    static void write(ParetoReport.Result r, String model, Path out) throws IOException {
        System.setProperty("java.awt.headless", "true");
        var img = BitmapEncoder.getBufferedImage(chart(r, model));
        try (AtomicFile f = AtomicFile.create(out)) {
            OutputStream os = Channels.newOutputStream(f.channel());
            if (!javax.imageio.ImageIO.write(img, "png", os)) throw new IOException("no PNG writer available");
            f.commit();
        }
    }
}
