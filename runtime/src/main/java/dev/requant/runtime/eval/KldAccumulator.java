package dev.requant.runtime.eval;

import java.util.Arrays;

/**
 * The running sums of llama-perplexity's kl_divergence_result plus every token's KLD and Δp (for the percentiles),
 * for one compared model. {@link #report()} turns them into the printed statistics with perplexity.cpp's formulas.
 */
public final class KldAccumulator {
    private double sumNll, sumNll2, sumNllBase, sumNllBase2, sumNllNllBase;
    private double sumKld, sumKld2, sumPDiff, sumPDiff2, sumPDiff4;
    private float maxPDiff;
    private long nSameTop, count;
    private float[] kldValues = new float[256];
    private float[] pDiffValues = new float[256];

    /** Adds one scored token, with the float/double conversions of perplexity.cpp's accumulation. */
    public void add(TokenScores.TokenKld t) {
        float nll = t.nll(), nllBase = t.nllBase();
        sumNll += nll;
        sumNll2 += nll * nll; // float product, as `kld.sum_nll2 += nll*nll` with float nll
        sumNllBase += nllBase;
        sumNllBase2 += nllBase * nllBase;
        sumNllNllBase += nll * nllBase;
        sumKld += t.kld();
        sumKld2 += t.kld() * t.kld();
        if (t.sameTop()) nSameTop++;
        float pDiff = t.pDiff();
        sumPDiff += pDiff;
        double pDiff2 = pDiff * pDiff;
        sumPDiff2 += pDiff2;
        sumPDiff4 += pDiff2 * pDiff2;
        maxPDiff = Math.max(maxPDiff, Math.abs(pDiff));
        if (count == kldValues.length) {
            kldValues = Arrays.copyOf(kldValues, kldValues.length * 2);
            pDiffValues = Arrays.copyOf(pDiffValues, pDiffValues.length * 2);
        }
        kldValues[(int) count] = (float) t.kld();
        pDiffValues[(int) count] = pDiff;
        count++;
    }

    public long count() { return count; }

    private float[] baseScratch = new float[0];

    /**
     * Adds one position compared logits to logits: the base distribution from {@code base} (exact log-probs, as eval
     * with a model reference), the compared one from {@code q}, {@code tok} the token the position predicts (for the
     * perplexities). The one KLD / same-top computation of the tree: eval and verify-fp4 both come here.
     */
    public void addLogits(float[] base, int baseOff, float[] q, int qOff, int nVocab, int tok) {
        if (baseScratch.length < nVocab) baseScratch = new float[nVocab];
        float nllBase = TokenScores.exactLogProbs(base, baseOff, nVocab, tok, baseScratch, 0);
        add(TokenScores.kld(q, qOff, nVocab, baseScratch, 0, nllBase, tok, false));
    }

    /** mean_and_uncertainty: f = s/n; var = s2/n − f²; unc = sqrt(var/(n−1)) if var > 0 and n > 10, else 0. */
    static double[] meanAndUncertainty(double sum, double sum2, long n) {
        if (n < 1) return new double[] {0, 0};
        double f = sum / n;
        double df = sum2 / n - f * f;
        df = df > 0 && n > 10 ? Math.sqrt(df / (n - 1)) : 0;
        return new double[] {f, df};
    }

    /** covariance: 0 if n < 10, else (ab/n − (a/n)(b/n))/(n−1). */
    static double covariance(double a, double b, double ab, long n) {
        if (n < 10) return 0;
        return (ab / n - (a / n) * (b / n)) / (n - 1);
    }

    /** The statistics llama-perplexity --kl-divergence prints (its final report), computed from the sums so far. */
    public KldReport report() {
        long n = count;
        double[] logPpl = meanAndUncertainty(sumNll, sumNll2, n);
        double ppl = Math.exp(logPpl[0]);
        double pplUnc = ppl * logPpl[1];
        double[] logPplBase = meanAndUncertainty(sumNllBase, sumNllBase2, n);
        double pplBase = Math.exp(logPplBase[0]);
        double pplBaseUnc = pplBase * logPplBase[1];
        double cov = covariance(sumNll, sumNllBase, sumNllNllBase, n);
        double cor = cov / (logPpl[1] * logPplBase[1]);
        double lnRatio = logPpl[0] - logPplBase[0];
        double lnRatioUnc = Math.sqrt(logPpl[1] * logPpl[1] + logPplBase[1] * logPplBase[1] - 2.0 * cov);
        double ratio = Math.exp(lnRatio);
        double pplCov = ppl * pplBase * cov;
        double diffUnc = Math.sqrt(pplUnc * pplUnc + pplBaseUnc * pplBaseUnc - 2.0 * pplCov);
        double[] kl = meanAndUncertainty(sumKld, sumKld2, n);
        double[] pDiff = meanAndUncertainty(sumPDiff, sumPDiff2, n);
        double[] mse = meanAndUncertainty(sumPDiff2, sumPDiff4, n);
        double rms = Math.sqrt(mse[0]);
        double rmsUnc = 0.5 / rms * mse[1];
        double top = (double) nSameTop / n;
        double topUnc = Math.sqrt(top * (1 - top) / (n - 1));
        float[] klds = Arrays.copyOf(kldValues, (int) n);
        float[] pd = Arrays.copyOf(pDiffValues, (int) n);
        Arrays.sort(klds);
        Arrays.sort(pd);
        return new KldReport(n,
                new KldReport.Value(ppl, pplUnc), new KldReport.Value(pplBase, pplBaseUnc), cor,
                new KldReport.Value(lnRatio, lnRatioUnc), new KldReport.Value(ratio, ratio * lnRatioUnc),
                new KldReport.Value(ppl - pplBase, diffUnc),
                new KldReport.Value(kl[0], kl[1]), Percentiles.of(klds, Percentiles.KLD_LEVELS),
                new KldReport.Value(pDiff[0], pDiff[1]), Percentiles.of(pd, Percentiles.DELTA_P_LEVELS),
                new KldReport.Value(rms, rmsUnc), new KldReport.Value(top, topUnc), maxPDiff, klds);
    }
}
