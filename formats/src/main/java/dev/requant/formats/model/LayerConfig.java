package dev.requant.formats.model;

/**
 * The shape and constants of one decoder layer, resolved from the per-layer GGUF keys (llama_hparams' per-layer
 * accessors: n_head_kv(il), n_embd_head_k(il), n_rot(il), n_ff(il), is_swa(il), has_kv(il)).
 *
 * @param slidingWindow true for a sliding-window (local) layer, false for a global one
 * @param headDim K, Q and V head size of this layer (Gemma 4: key_length_swa for sliding layers, key_length else)
 * @param nRot dims rotated by RoPE (the first nRot of each head, NEOX pairing (i, i + nRot/2))
 * @param ropeBase frequency base: rope.freq_base_swa for sliding layers, rope.freq_base for global ones
 * @param ropeFreqScale 1/rope.scaling.factor on global layers with linear scaling, else 1
 * @param ropeFreqFactors whether the global rope_freqs tensor divides the frequencies (Gemma 4 proportional RoPE)
 * @param nFf width of the dense (or shared) feed-forward block
 * @param kvLayer the layer whose K/V cache this layer attends to: itself, or for a Gemma 4 KV-shared layer the last
 *     non-shared layer of the same kind (llama.cpp: n_layer_kv_from_start - 2 for sliding, - 1 for global)
 * @param attnScale factor applied to Q before Q·Kᵀ (Gemma 3: 1/sqrt(head_dim); Gemma 4: 1)
 */
public record LayerConfig(
        int index,
        boolean slidingWindow,
        int nHead,
        int nHeadKv,
        int headDim,
        int nRot,
        float ropeBase,
        float ropeFreqScale,
        boolean ropeFreqFactors,
        int nFf,
        int kvLayer,
        float attnScale) {

    /** Whether this layer computes and stores its own K and V (false for Gemma 4 KV-shared layers). */
    public boolean hasKv() { return kvLayer == index; }

    public int qDim() { return nHead * headDim; }

    public int kvDim() { return nHeadKv * headDim; }
}
