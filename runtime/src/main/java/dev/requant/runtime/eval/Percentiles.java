package dev.requant.runtime.eval;

import java.util.LinkedHashMap;
import java.util.Map;

/**
 * Percentiles of sorted values exactly as llama-perplexity computes them (perplexity.cpp, kl_divergence): in float,
 * {@code p = fraction·(N−1)}, linear interpolation between {@code v[⌊p⌋]} and the next value; the median separately as
 * the middle value or the float mean of the two middle values.
 */
public final class Percentiles {
    private Percentiles() {}

    /** The KLD levels llama-perplexity prints, highest first (1 = maximum, 0 = minimum, 0.5 = median). */
    public static final float[] KLD_LEVELS = {1f, 0.999f, 0.990f, 0.950f, 0.900f, 0.5f, 0.100f, 0.050f, 0.010f, 0.001f, 0f};
    /** The Δp levels llama-perplexity prints. */
    public static final float[] DELTA_P_LEVELS = {1f, 0.999f, 0.990f, 0.950f, 0.900f, 0.750f, 0.5f, 0.250f, 0.100f, 0.050f, 0.010f, 0.001f, 0f};

    /** The lambda {@code percentile(values, fraction)} of perplexity.cpp on ascending {@code v}. */
    public static float percentile(float[] v, float fraction) {
        if (fraction <= 0) return v[0];
        if (fraction >= 1) return v[v.length - 1];
        float p = fraction * (v.length - 1);
        int ip = (int) p;
        p -= ip;
        return (1 - p) * v[ip] + p * v[Math.min(ip + 1, v.length - 1)];
    }

    /** The median as perplexity.cpp prints it. */
    public static float median(float[] v) {
        int n = v.length;
        return n % 2 == 0 ? 0.5f * (v[n / 2] + v[n / 2 - 1]) : v[n / 2];
    }

    /** Level → value for ascending {@code v} (empty map for no values); level 0.5 is {@link #median}. */
    public static Map<Float, Float> of(float[] v, float[] levels) {
        Map<Float, Float> out = new LinkedHashMap<>();
        if (v.length == 0) return out;
        for (float f : levels) out.put(f, f == 0.5f ? median(v) : percentile(v, f));
        return out;
    }
}
