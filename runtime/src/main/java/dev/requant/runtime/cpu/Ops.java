package dev.requant.runtime.cpu;

import jdk.incubator.vector.DoubleVector;
import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.VectorOperators;
import jdk.incubator.vector.VectorSpecies;

/**
 * Row-wise operations of the Gemma graph, each as a scalar reference and, where it is hot, a Vector API version.
 * Formulas and precision follow ggml's CPU ops (ggml/src/ggml-cpu/ops.cpp, vec.h) except where noted.
 */
public final class Ops {
    private Ops() {}

    static final VectorSpecies<Float> F = FloatVector.SPECIES_PREFERRED;
    static final VectorSpecies<Double> D = VectorSpecies.of(double.class, F.vectorShape());
    static final int L = F.length();

    /**
     * 1/sqrt(mean(x²) + eps) over {@code x[off..off+n)}, the sum accumulated in double as ggml_compute_forward_rms_norm
     * does ({@code ggml_float sum}); the square is taken in float.
     */
    public static float rmsScale(float[] x, int off, int n, float eps, boolean vector) {
        double sum = 0;
        int i = 0;
        if (vector) {
            int dl = D.length();
            DoubleVector acc = DoubleVector.zero(D);
            for (; i + L <= n; i += L) {
                FloatVector v = FloatVector.fromArray(F, x, off + i);
                FloatVector sq = v.mul(v);
                for (int p = 0; p < L / dl; p++) acc = acc.add((DoubleVector) sq.convertShape(VectorOperators.F2D, D, p));
            }
            sum = VectorMath.sum(acc);
        }
        for (; i < n; i++) sum += x[off + i] * x[off + i];
        float mean = (float) (sum / n);
        return 1.0f / (float) Math.sqrt(mean + eps); // 1.0f/sqrtf(mean + eps)
    }

    /** dst = rmsnorm(src) ⊙ w (w null: no weight), for one row of n; dst may equal src. */
    public static void rmsNorm(float[] src, int srcOff, float[] w, float[] dst, int dstOff, int n, float eps, boolean vector) {
        float s = rmsScale(src, srcOff, n, eps, vector);
        if (w == null) {
            for (int i = 0; i < n; i++) dst[dstOff + i] = src[srcOff + i] * s;
        } else {
            // ggml: rms_norm writes x*scale, then ggml_mul multiplies by the weight: two roundings, kept here
            for (int i = 0; i < n; i++) dst[dstOff + i] = (src[srcOff + i] * s) * w[i];
        }
    }

    static final float GELU_COEF_A = 0.044715f;
    static final float SQRT_2_OVER_PI = 0.79788456080286535587989211986876f;

    /** GELU, tanh approximation (ggml_gelu_f32): 0.5·x·(1 + tanh(√(2/π)·x·(1 + 0.044715·x²))). */
    public static float gelu(float x) {
        return 0.5f * x * (1.0f + (float) Math.tanh(SQRT_2_OVER_PI * x * (1.0f + GELU_COEF_A * x * x)));
    }

    /**
     * {@code g[i] = gelu(g[i]) * u[i]} (llama.cpp's GEGLU for LLM_FFN_GELU + LLM_FFN_PAR). Exact tanh GELU in float;
     * ggml's CPU path instead looks GELU up in an fp16 table (GGML_GELU_FP16), a deliberate difference: this runtime
     * matches the transformers reference to float precision.
     */
    public static void geluMul(float[] g, int gOff, float[] u, int uOff, int n, boolean vector) {
        int i = 0;
        if (vector) {
            for (; i + L <= n; i += L) {
                FloatVector x = FloatVector.fromArray(F, g, gOff + i);
                FloatVector inner = x.mul(x).mul(GELU_COEF_A).add(1f).mul(x).mul(SQRT_2_OVER_PI);
                FloatVector t = VectorMath.tanh(inner);
                x.mul(0.5f).mul(t.add(1f)).mul(FloatVector.fromArray(F, u, uOff + i)).intoArray(g, gOff + i);
            }
            for (; i < n; i++) {
                float x = g[gOff + i];
                float inner = ((x * x * GELU_COEF_A + 1f) * x) * SQRT_2_OVER_PI;
                g[gOff + i] = ((x * 0.5f) * (VectorMath.tanh(inner) + 1f)) * u[uOff + i];
            }
            return;
        }
        for (; i < n; i++) g[gOff + i] = gelu(g[gOff + i]) * u[uOff + i];
    }

    /**
     * Softmax of {@code x[off..off+n)} in place: max, exp(x - max) in float, sum in double (ggml_vec_soft_max_f32),
     * then scaled by 1/sum. Returns nothing; -inf entries become 0.
     */
    public static void softmax(float[] x, int off, int n, boolean vector) {
        float max = Float.NEGATIVE_INFINITY;
        for (int i = 0; i < n; i++) max = Math.max(max, x[off + i]);
        double sum = 0;
        int i = 0;
        if (vector) {
            int dl = D.length();
            DoubleVector acc = DoubleVector.zero(D);
            for (; i + L <= n; i += L) {
                FloatVector e = VectorMath.exp(FloatVector.fromArray(F, x, off + i).sub(max));
                e.intoArray(x, off + i);
                for (int p = 0; p < L / dl; p++) acc = acc.add((DoubleVector) e.convertShape(VectorOperators.F2D, D, p));
            }
            sum = VectorMath.sum(acc);
        }
        for (; i < n; i++) {
            float e = vector ? VectorMath.exp(x[off + i] - max) : (float) Math.exp(x[off + i] - max);
            x[off + i] = e;
            sum += e;
        }
        float inv = (float) (1.0 / sum);
        for (int j = 0; j < n; j++) x[off + j] *= inv;
    }

    /** Final-logit softcapping in place: x = cap·tanh(x/cap) (ggml_scale, ggml_tanh, ggml_scale). */
    public static void softcap(float[] x, int off, int n, float cap, boolean vector) {
        int i = 0;
        if (vector) {
            float inv = 1f / cap;
            for (; i + L <= n; i += L) {
                VectorMath.tanh(FloatVector.fromArray(F, x, off + i).mul(inv)).mul(cap).intoArray(x, off + i);
            }
            for (; i < n; i++) x[off + i] = VectorMath.tanh(x[off + i] * inv) * cap;
            return;
        }
        for (; i < n; i++) x[off + i] = cap * (float) Math.tanh(x[off + i] * (1f / cap));
    }

    /** y[i] += a·x[i]. */
    public static void axpy(float a, float[] x, int xOff, float[] y, int yOff, int n, boolean vector) {
        int i = 0;
        if (vector) {
            for (; i + L <= n; i += L) {
                FloatVector.fromArray(F, x, xOff + i).fma(FloatVector.broadcast(F, a), FloatVector.fromArray(F, y, yOff + i)).intoArray(y, yOff + i);
            }
        }
        for (; i < n; i++) y[yOff + i] = Math.fma(a, x[xOff + i], y[yOff + i]);
    }
}
