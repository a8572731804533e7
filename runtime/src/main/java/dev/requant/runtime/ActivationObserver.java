package dev.requant.runtime;

/**
 * Sees the input of every matrix multiplication of a forward pass, which is what importance-matrix collection
 * (llama-imatrix's {@code cb_eval}, tools/imatrix/imatrix.cpp) accumulates.
 *
 * <p><b>When and in which order.</b> For each batch a backend processes, it calls the observer once per matrix
 * multiplication, before computing it, on the calling thread, in the order llama.cpp's graph runs them. Per layer
 * {@code i} (prefix {@code blk.i.}):
 * <ol>
 *   <li>{@code attn_q}, {@code attn_k}, {@code attn_v}: one call each with the same rows (the attn_norm output);
 *       Gemma 4 KV-shared layers have only {@code attn_q}; a k_eq_v layer (no attn_v tensor) has no {@code attn_v}
 *       call because V reuses the K product;</li>
 *   <li>{@code attn_output} (the attention result, {@code n_head * head_dim} columns);</li>
 *   <li>{@code ffn_gate}, {@code ffn_up} (same rows, the ffn_norm output), then {@code ffn_down} (gelu(gate) ⊙ up);</li>
 *   <li>MoE layers (Gemma 4 26B-A4B), after the dense FFN: {@code ffn_gate_inp} (the router input), then
 *       {@link #onExpertMatMul} for {@code ffn_gate_up_exps} (or {@code ffn_gate_exps} and {@code ffn_up_exps}) of
 *       every expert that received rows, in ascending expert order, then {@code ffn_down_exps} of each of them (as
 *       ggml runs one MUL_MAT_ID for all experts' gate/up, then one for their down);</li>
 *   <li>Gemma 4 per-layer inputs: {@code inp_gate} (the layer output before PLE), then in layer 0 only the global
 *       {@code per_layer_model_proj.weight} (the scaled token embeddings, as ggml's graph order places it there),
 *       then {@code proj}.</li>
 * </ol>
 * After the last layer, {@code output.weight} (or {@code token_embd.weight} when the embeddings are tied, as llama.cpp
 * names the tied LM head) is reported only if {@link #observeOutput()} is true. The token embedding lookups
 * ({@code token_embd}, {@code per_layer_token_embd}) are row gathers, not multiplications, and are never reported.
 *
 * <p><b>Which rows.</b> One row per token of the batch, in batch order, {@code cols} floats each (the weight's
 * {@code ne[0]}). As in llama.cpp, the last layer keeps only the rows whose logits were requested after its attention,
 * so {@code attn_output}, the FFN, PLE and output calls of the last layer see fewer rows when not every token wants
 * logits (llama-imatrix requests all of them). Filtering ({@code blk.} prefix, the ≥ 16 rows rule) is the
 * observer's business, as it is llama-imatrix's.
 *
 * <p><b>Ownership.</b> {@code rows} is the backend's buffer: read it during the call, copy what you keep, never write
 * it. Only the first {@code nRows * cols} floats are meaningful.
 */
public interface ActivationObserver {
    /**
     * A dense multiplication {@code y = W·x} for each of {@code nRows} rows.
     *
     * @param weight the GGUF tensor name, e.g. {@code blk.3.ffn_down.weight}
     * @param rows row-major {@code [nRows x cols]} activations, row {@code r} at {@code rows[r * cols]}
     */
    void onMatMul(String weight, float[] rows, int nRows, int cols);

    /**
     * The rows routed to one expert of a stacked expert tensor (ggml's MUL_MAT_ID), called for each expert that
     * received at least one row, in ascending expert order. A row appears once per expert that selected it.
     */
    default void onExpertMatMul(String weight, int expert, int nExperts, float[] rows, int nRows, int cols) {}

    /** Whether the LM head multiplication is reported too (llama-imatrix's --process-output). */
    default boolean observeOutput() { return false; }
}
