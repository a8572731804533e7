package dev.requant.runtime.model;

/**
 * The tensors of one decoder layer, by role. Vectors (norm weights, scales) are small and held as floats; matrices
 * stay in their stored type. Optional tensors are null: {@code attnK}, {@code attnV}, {@code attnKNorm} on Gemma 4
 * KV-shared layers, {@code attnV} on k_eq_v global layers, the PLE and MoE tensors when the model has none.
 */
public record LayerWeights(
        float[] attnNorm,
        WeightTensor attnQ,
        WeightTensor attnK,
        WeightTensor attnV,
        WeightTensor attnOutput,
        float[] attnQNorm,
        float[] attnKNorm,
        float[] postAttentionNorm,
        float[] ffnNorm,
        WeightTensor ffnGate,
        WeightTensor ffnUp,
        WeightTensor ffnDown,
        float[] postFfwNorm,
        // Gemma 4 per-layer inputs
        WeightTensor inpGate,
        WeightTensor proj,
        float[] postNorm,
        // Gemma 4 layer_scalar (blk.N.layer_output_scale.weight), NaN when absent
        float layerOutputScale,
        Moe moe) {

    /**
     * A Gemma 4 mixture-of-experts block (run beside the dense FFN, which acts as the shared expert). Either
     * {@code gateUpExps} (gate rows first, then up rows, per expert) or {@code gateExps} + {@code upExps} is set;
     * {@code downExps}' output scales are the per-expert factors (ffn_down_exps.scale).
     */
    public record Moe(
            WeightTensor gateInp,
            float[] gateInpScale,
            float[] preFfwNorm2,
            float[] postFfwNorm1,
            float[] postFfwNorm2,
            WeightTensor gateUpExps,
            WeightTensor gateExps,
            WeightTensor upExps,
            WeightTensor downExps) {}

    /** The same layer with every matrix passed through {@code f} (vectors kept). */
    public LayerWeights mapMatrices(java.util.function.UnaryOperator<WeightTensor> f) {
        Moe m = moe == null ? null : new Moe(f.apply(moe.gateInp()), moe.gateInpScale(), moe.preFfwNorm2(), moe.postFfwNorm1(),
                moe.postFfwNorm2(), f.apply(moe.gateUpExps()), f.apply(moe.gateExps()), f.apply(moe.upExps()), f.apply(moe.downExps()));
        return new LayerWeights(attnNorm, f.apply(attnQ), f.apply(attnK), f.apply(attnV), f.apply(attnOutput), attnQNorm, attnKNorm,
                postAttentionNorm, ffnNorm, f.apply(ffnGate), f.apply(ffnUp), f.apply(ffnDown), postFfwNorm, f.apply(inpGate), f.apply(proj),
                postNorm, layerOutputScale, m);
    }

    public boolean hasMoe() { return moe != null; }
}
