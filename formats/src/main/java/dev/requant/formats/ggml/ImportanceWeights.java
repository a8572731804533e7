package dev.requant.formats.ggml;

/**
 * How llama.cpp's quantize_* paths turn an importance vector (imatrix mean of x^2 per column) into per-element
 * weights, and the weighted error they minimise. The codecs use these; an encoder that searches harder (for example
 * an exhaustive search over scales) can use the same weights and error to stay comparable with llama.cpp.
 */
public final class ImportanceWeights {
    private ImportanceWeights() {}

    /**
     * sigma^2 of a whole row as quantize_row_q4_0_impl (and q4_1, q5_0, q5_1) compute it: a sequential float sum of
     * x^2 divided by the row length.
     */
    public static float rowSigma2(float[] x, int xo, int n) {
        float sumX2 = 0;
        for (int j = 0; j < n; ++j) sumX2 += x[xo + j] * x[xo + j];
        return sumX2 / n;
    }

    /**
     * sigma^2 of one 256-element super-block as quantize_row_q4_K_impl / q5_K_impl compute it: {@code 2*sum/256}.
     */
    public static float superBlockSigma2(float[] x, int xo) {
        float sumX2 = 0;
        for (int l = 0; l < 256; ++l) sumX2 += x[xo + l] * x[xo + l];
        return 2 * sumX2 / 256;
    }

    /** {@code w[j] = qw[j] * sqrtf(sigma2 + x[j]^2)} for {@code n} elements: the legacy and K-quant imatrix weight. */
    public static void sigmaWeights(float[] x, int xo, float[] qw, int qwo, float sigma2, float[] w, int wo, int n) {
        for (int j = 0; j < n; ++j) {
            float xj = x[xo + j];
            w[wo + j] = qw[qwo + j] * (float) Math.sqrt(sigma2 + xj * xj);
        }
    }

    /**
     * The weights of quantize_row_q4_K_ref / q5_K_ref without an imatrix: {@code sqrtf(sum x^2 / 32) + |x|} over one
     * 32-element sub-block.
     */
    public static void subBlockRmsWeights(float[] x, int xo, float[] w, int wo) {
        float sumX2 = 0;
        for (int l = 0; l < 32; ++l) sumX2 += x[xo + l] * x[xo + l];
        float avX = (float) Math.sqrt(sumX2 / 32);
        for (int l = 0; l < 32; ++l) w[wo + l] = avX + Math.abs(x[xo + l]);
    }

    /** {@code sum w * (x - y)^2} in double: the error an encoder minimises, for comparing candidate encodings. */
    public static double weightedSquaredError(float[] x, int xo, float[] y, int yo, float[] w, int wo, int n) {
        double e = 0;
        for (int j = 0; j < n; ++j) {
            double d = (double) x[xo + j] - y[yo + j];
            e += (w == null ? 1.0 : w[wo + j]) * d * d;
        }
        return e;
    }
}
