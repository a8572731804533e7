package dev.requant.formats.imatrix;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.Comparator;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * Per-weight statistics of an imatrix, after llama-imatrix --show-statistics (compute_vector_statistics and
 * compute_tensor_statistics in tools/imatrix/imatrix.cpp), computed on the normalized mean squares E[x²] per column:
 * sum, min, max, mean and sample standard deviation over the columns of experts that saw tokens, the entropy (bits)
 * of the columns' share of the total, the fraction of columns more than one σ from the mean (ZD), the cosine
 * similarity with the same weight one block earlier, and the most important columns.
 */
public final class ImatrixStatistics {
    private static final Pattern BLOCK = Pattern.compile("blk\\.(\\d+)\\.");

    private ImatrixStatistics() {}

    /** A column and its mean square; {@code column} counts across experts (expert * columns + j). */
    public record Column(int column, float meanSquare) {}

    /**
     * @param count the entry's largest count (tokens; ncall for a legacy file)
     * @param elements columns that entered the statistics (experts with a zero count are skipped)
     * @param cosineToPrevious cosine similarity of the mean squares with blk.(n-1) of the same weight; NaN when there is none
     */
    public record Entry(String name, String layer, String tensor, long count, int elements, double sum, double min,
                        double max, double mean, double stdDev, double entropy, double zdScore, double cosineToPrevious,
                        List<Column> top) {}

    /** Statistics for every entry, in the imatrix's name order, with the {@code topColumns} most important columns. */
    public static List<Entry> of(Imatrix im, int topColumns) {
        Map<String, float[]> averages = new HashMap<>();
        for (ImatrixEntry e : im.entries().values()) averages.put(e.name(), averages(e));
        List<Entry> out = new ArrayList<>();
        for (ImatrixEntry e : im.entries().values()) out.add(entry(e, averages.get(e.name()), averages, topColumns));
        return out;
    }

    /**
     * E[x²] per column, 0 for experts without tokens (compute_tensor_averages keeps the shape that way). Dividing by
     * the count is right for both formats: a legacy entry stores E[x²]*ncall with counts {ncall}.
     */
    static float[] averages(ImatrixEntry e) {
        int ne0 = e.columns();
        float[] v = new float[e.sums().length];
        for (int m = 0; m < e.matrices(); m++) {
            float c = (float) e.counts()[m];
            if (c <= 0.0f) continue;
            for (int j = 0; j < ne0; j++) v[m * ne0 + j] = e.sums()[m * ne0 + j] / c;
        }
        return v;
    }

    private static Entry entry(ImatrixEntry e, float[] avg, Map<String, float[]> all, int topColumns) {
        int ne0 = e.columns();
        double sum = 0, mean = 0, m2 = 0, energy = 0;
        double min = Double.POSITIVE_INFINITY, max = Double.NEGATIVE_INFINITY;
        int n = 0;
        for (int m = 0; m < e.matrices(); m++) {
            if (e.counts()[m] <= 0) continue;
            for (int j = 0; j < ne0; j++) {
                double v = avg[m * ne0 + j];
                n++;
                sum += v;
                min = Math.min(min, v);
                max = Math.max(max, v);
                double delta = v - mean; // Welford, as llama.cpp
                mean += delta / n;
                m2 += delta * (v - mean);
                energy += Math.max(0.0, v);
            }
        }
        double std = n > 1 ? Math.sqrt(Math.max(m2 / (n - 1), 0.0)) : 0.0;
        double entropy = 0, zd = 0;
        for (int m = 0; m < e.matrices(); m++) {
            if (e.counts()[m] <= 0) continue;
            for (int j = 0; j < ne0; j++) {
                double v = avg[m * ne0 + j];
                if (energy > 0) {
                    double p = Math.max(0.0, v) / energy;
                    if (p > 0) entropy -= p * Math.log(p) / Math.log(2);
                }
                if (std > 0 && Math.abs((v - mean) / std) > 1.0) zd++;
            }
        }
        String layer = "-", tensor = e.name();
        Matcher mb = BLOCK.matcher(e.name());
        double cos = Double.NaN;
        if (mb.find()) {
            layer = mb.group(1);
            int blk = Integer.parseInt(layer);
            if (blk > 0) {
                String prev = e.name().substring(0, mb.start(1)) + (blk - 1) + e.name().substring(mb.end(1));
                float[] p = all.get(prev);
                if (p != null && p.length == avg.length) cos = cosine(avg, p);
            }
        }
        String[] parts = e.name().split("\\.");
        for (int i = 1; i < parts.length; i++) if (parts[i].equals("weight")) { tensor = parts[i - 1]; break; }
        Integer[] order = new Integer[avg.length];
        for (int i = 0; i < order.length; i++) order[i] = i;
        Arrays.sort(order, Comparator.comparingDouble((Integer i) -> -avg[i]).thenComparingInt(i -> i));
        List<Column> top = new ArrayList<>();
        for (int i = 0; i < Math.min(topColumns, order.length); i++) top.add(new Column(order[i], avg[order[i]]));
        return new Entry(e.name(), layer, tensor, e.maxCount(), n, sum, n == 0 ? Double.NaN : min, n == 0 ? Double.NaN : max,
                mean, std, entropy, n == 0 ? 0 : zd / n, cos, List.copyOf(top));
    }

    static double cosine(float[] a, float[] b) {
        double dot = 0, na = 0, nb = 0;
        for (int i = 0; i < a.length; i++) {
            dot += (double) a[i] * b[i];
            na += (double) a[i] * a[i];
            nb += (double) b[i] * b[i];
        }
        if (na > 0 && nb > 0) return Math.max(-1, Math.min(1, dot / (Math.sqrt(na) * Math.sqrt(nb))));
        return na == 0 && nb == 0 ? 1.0 : 0.0;
    }
}
