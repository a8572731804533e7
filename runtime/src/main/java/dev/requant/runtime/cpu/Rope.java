package dev.requant.runtime.cpu;

import java.util.Arrays;

/**
 * NEOX rotary position embedding for one (n_rot, base, freq_scale, freq_factors) combination, with a cos/sin table
 * grown by position on demand. Pair i (i < n_rot/2) of a head, elements (i, i + n_rot/2), is rotated by
 * θ = freq_scale · pos · base^(-2i/n_rot) / ff[i] (ggml_rope_ext with ext_factor 0, ops.cpp rope_f32 NEOX);
 * dims ≥ n_rot pass through. θ and its cos/sin are computed in double (StrictMath: the same bits on every run) and rounded once, where ggml accumulates
 * θ by repeated float multiplication; the rotation itself is the same float arithmetic.
 */
public final class Rope {
    private final int nRot;
    private final double base;
    private final double freqScale;
    private final float[] freqFactors;
    private final Numerics numerics;
    private float[] cos = new float[0];
    private float[] sin = new float[0];
    private int positions;

    public Rope(int nRot, float base, float freqScale, float[] freqFactors) {
        this(nRot, base, freqScale, freqFactors, Numerics.LLAMA_CPP);
    }

    public Rope(int nRot, float base, float freqScale, float[] freqFactors, Numerics numerics) {
        if (nRot % 2 != 0) throw new IllegalArgumentException("n_rot must be even: " + nRot);
        if (freqFactors != null && freqFactors.length < nRot / 2) {
            throw new IllegalArgumentException("rope_freqs has " + freqFactors.length + " values, n_rot/2 = " + nRot / 2);
        }
        this.nRot = nRot;
        this.base = base;
        this.freqScale = freqScale;
        this.freqFactors = freqFactors;
        this.numerics = numerics;
    }

    public int nRot() { return nRot; }

    /** Makes the table cover positions [0, n). Not thread-safe: call before parallel use. */
    public void ensure(int n) {
        if (n <= positions) return;
        int half = nRot / 2;
        int cap = Math.max(n, positions * 2);
        cos = Arrays.copyOf(cos, cap * half);
        sin = Arrays.copyOf(sin, cap * half);
        for (int p = positions; p < cap; p++) {
            for (int i = 0; i < half; i++) {
                double invFreq = StrictMath.pow(base, -2.0 * i / nRot);
                if (numerics == Numerics.TRANSFORMERS_BF16_BUFFERS) invFreq = dev.requant.formats.ggml.BFloat16.round((float) invFreq);
                double theta = freqScale * p * invFreq;
                if (freqFactors != null) theta /= freqFactors[i];
                cos[p * half + i] = (float) StrictMath.cos(theta);
                sin[p * half + i] = (float) StrictMath.sin(theta);
            }
        }
        positions = cap;
    }

    /**
     * The cosines ({@code cos = true}) or sines of positions {@code [0, n)}, {@code [pos][nRot/2]}: the table a GPU
     * backend uploads so that its angles are the CPU's. Not thread-safe (grows the table).
     */
    public float[] table(int n, boolean cos) {
        ensure(n);
        return Arrays.copyOf(cos ? this.cos : this.sin, n * (nRot / 2));
    }

    /** Rotates one head of {@code headDim} floats at {@code x[off]} for position {@code pos}. */
    public void apply(float[] x, int off, int pos) {
        int half = nRot / 2;
        int c = pos * half;
        for (int i = 0; i < half; i++) {
            float x0 = x[off + i], x1 = x[off + i + half];
            float cs = cos[c + i], sn = sin[c + i];
            x[off + i] = x0 * cs - x1 * sn;
            x[off + i + half] = x0 * sn + x1 * cs;
        }
    }
}
