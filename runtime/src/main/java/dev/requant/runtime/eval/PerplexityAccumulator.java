package dev.requant.runtime.eval;

/** llama-perplexity's plain perplexity run: Σ nll and Σ nll² in double, then "Final estimate: PPL = … +/- …". */
public final class PerplexityAccumulator {
    private double nll, nll2;
    private long count;

    public void add(double tokenNll) {
        nll += tokenNll;
        nll2 += tokenNll * tokenNll;
        count++;
    }

    public long count() { return count; }

    /**
     * PPL = exp(mean nll) and its error PPL·sqrt((mean(nll²) − mean²)/(count − 1)) (perplexity.cpp, end of
     * perplexity()); the error is NaN where llama.cpp reports an "unexpected negative standard deviation".
     */
    public KldReport.Value report() {
        double mean = nll / count;
        double var = nll2 / count - mean * mean;
        double ppl = Math.exp(mean);
        return new KldReport.Value(ppl, var > 0 ? Math.sqrt(var / (count - 1)) * ppl : Double.NaN);
    }
}
