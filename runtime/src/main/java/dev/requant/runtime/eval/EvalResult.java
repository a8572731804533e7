package dev.requant.runtime.eval;

import java.util.List;

/**
 * The outcome of an evaluation.
 *
 * @param referenceFromFile true when the reference was a logits file (KLD from 16-bit log-probs, -16 floor)
 * @param scoredTokens tokens scored per model: n_chunk · (n_ctx − 1 − n_ctx/2)
 * @param referencePpl the reference model's own perplexity (llama-perplexity's final estimate), null for a file
 */
public record EvalResult(
        String reference,
        boolean referenceFromFile,
        int nCtx,
        int nChunk,
        long scoredTokens,
        KldReport.Value referencePpl,
        List<Compared> compared) {

    public record Compared(String name, KldReport report) {}
}
