package dev.requant.converter.quantize.search;

import dev.requant.formats.ggml.GgmlType;
import dev.requant.formats.ggml.ImportanceWeights;

/**
 * The per-element weights of the error each llama.cpp quantizer minimises, so that a search can be judged by the
 * same yardstick: {@code E = sum w_j (x_j - xhat_j)^2} over a block.
 *
 * <ul>
 *   <li>Q4_0, Q4_1, Q5_0, Q5_1 (quantize_row_q*_impl): {@code imatrix_j * sqrt(sigma2 + x_j^2)}, sigma2 the row's
 *       mean square. Q8_0 and MXFP4, whose llama.cpp encoders ignore the imatrix, are judged the same way.
 *       Without an imatrix the reference encoders minimise nothing; the search then minimises the plain squared
 *       error ({@code w = 1}).</li>
 *   <li>Q4_K, Q5_K: with an imatrix {@code imatrix_j * sqrt(sigma2 + x_j^2)} with sigma2 = 2 * mean square of the
 *       256-element super-block (quantize_row_q4_K_impl); without, {@code sqrt(mean x^2 of the 32-block) + |x_j|}
 *       (quantize_row_q4_K_ref).</li>
 *   <li>Q6_K: the imatrix itself (quantize_row_q6_K_impl), or {@code x_j^2} (make_qx_quants rmse_type 1, the
 *       reference).</li>
 * </ul>
 */
public final class SearchObjective {
    private SearchObjective() {}

    /** Fills {@code w[0..n)} with the weights of row {@code x[xo..xo+n)} for {@code type}. */
    public static void weights(GgmlType type, float[] x, int xo, int n, float[] importance, float[] w) {
        switch (type) {
            case Q4_0, Q4_1, Q5_0, Q5_1, Q8_0, MXFP4 -> {
                if (importance == null) {
                    java.util.Arrays.fill(w, 0, n, 1f);
                } else {
                    float sigma2 = ImportanceWeights.rowSigma2(x, xo, n);
                    ImportanceWeights.sigmaWeights(x, xo, importance, 0, sigma2, w, 0, n);
                }
            }
            case Q4_K, Q5_K -> {
                for (int b = 0; b < n; b += 256) {
                    if (importance == null) {
                        for (int j = 0; j < 256; j += 32) ImportanceWeights.subBlockRmsWeights(x, xo + b + j, w, b + j);
                    } else {
                        float sigma2 = ImportanceWeights.superBlockSigma2(x, xo + b);
                        ImportanceWeights.sigmaWeights(x, xo + b, importance, b, sigma2, w, b, 256);
                    }
                }
            }
            case Q6_K -> {
                for (int j = 0; j < n; j++) w[j] = importance != null ? importance[j] : x[xo + j] * x[xo + j];
            }
            default -> throw new IllegalArgumentException("no search objective for " + type.ggmlName());
        }
    }

    /** {@code sum w (x - y)^2} in double. */
    public static double error(float[] x, int xo, float[] y, int yo, float[] w, int wo, int n) {
        return ImportanceWeights.weightedSquaredError(x, xo, y, yo, w, wo, n);
    }
}
