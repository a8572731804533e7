package dev.requant.cuda;

/**
 * The shape of one {@link CudaKernels#attention} call. Q and O are {@code [sequences][queries][heads][headDim]},
 * K and V {@code [sequences][keys][kvHeads][headDim]}, float32, with the given strides in elements.
 *
 * @param queryPos0 position of the first query; query i sees keys at positions {@code <= queryPos0 + i}
 * @param window sliding window (a key is visible while {@code qpos - kpos < window}); 0 for full causal attention
 * @param scale the factor on q·k (Gemma 3: query_pre_attn_scalar^-0.5; Gemma 4: 1)
 * @param softcap tanh soft-capping of the scores, 0 for none (Gemma 2 only)
 */
public record AttentionShape(int sequences, int queries, int keys, int heads, int kvHeads, int headDim, int queryPos0,
                             int window, float scale, float softcap,
                             long qTokenStride, long qSeqStride, long kvTokenStride, long kvSeqStride,
                             long oTokenStride, long oSeqStride) {
    public AttentionShape {
        if (headDim % 32 != 0 || headDim > 512) throw new IllegalArgumentException("headDim must be a multiple of 32 up to 512, got " + headDim);
        if (kvHeads <= 0 || heads % kvHeads != 0) throw new IllegalArgumentException(heads + " heads are not a multiple of " + kvHeads + " KV heads");
        if (keys <= 0 || queries <= 0 || sequences <= 0) throw new IllegalArgumentException("empty attention");
    }

    /** Densely packed tensors: prefill of {@code tokens} tokens per sequence from position 0 (imatrix chunks). */
    public static AttentionShape packed(int sequences, int tokens, int heads, int kvHeads, int headDim, int window, float scale) {
        long q = (long) heads * headDim, kv = (long) kvHeads * headDim;
        return new AttentionShape(sequences, tokens, tokens, heads, kvHeads, headDim, 0, window, scale, 0f,
                q, q * tokens, kv, kv * tokens, q, q * tokens);
    }
}
