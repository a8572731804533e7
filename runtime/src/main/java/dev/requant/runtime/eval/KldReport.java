package dev.requant.runtime.eval;

import java.util.Map;

/**
 * What llama-perplexity --kl-divergence prints for one model against the base, over {@code count} scored tokens.
 * Percentile maps go from level (1 = maximum, 0.5 = median, 0 = minimum) to value; Δp values are fractions (×100 for
 * the printed %).
 *
 * @param ppl PPL(Q) ± PPL·σ(mean nll)
 * @param pplBase PPL(base) over the same tokens
 * @param correlation Cor(ln PPL(Q), ln PPL(base)) as a fraction
 * @param lnPplRatio mean ln(PPL(Q)/PPL(base)) ± sqrt(σ² + σ_b² − 2cov)
 * @param kld mean KL(base ‖ Q) ± uncertainty
 * @param sameTop fraction of tokens whose most likely token is the base's
 * @param maxAbsDeltaP the largest |Δp| seen
 * @param sortedKld every token's KLD, ascending (for plots)
 */
public record KldReport(
        long count,
        Value ppl,
        Value pplBase,
        double correlation,
        Value lnPplRatio,
        Value pplRatio,
        Value pplDiff,
        Value kld,
        Map<Float, Float> kldPercentiles,
        Value deltaP,
        Map<Float, Float> deltaPPercentiles,
        Value rmsDeltaP,
        Value sameTop,
        float maxAbsDeltaP,
        float[] sortedKld) {

    /** A value and its uncertainty (one standard error, as llama-perplexity prints after ±). */
    public record Value(double value, double uncertainty) {}
}
