package dev.requant.converter.quantize;

/**
 * llama-quantize's broad tensor categories (tensor_get_category in src/llama-quant.cpp): exact names for the output
 * and token embeddings, then substrings, tested in this order, so "attn_qkv.weight" wins over "attn_v.weight".
 */
public enum TensorCategory {
    TOKEN_EMBD,
    ATTENTION_Q,
    ATTENTION_V,
    ATTENTION_K,
    ATTENTION_QKV,
    ATTENTION_KV_B,
    ATTENTION_OUTPUT,
    FFN_UP,
    FFN_GATE,
    FFN_DOWN,
    OUTPUT,
    OTHER;

    public static TensorCategory of(String name) {
        if (name.equals("output.weight")) return OUTPUT;
        if (isTokenEmbedding(name)) return TOKEN_EMBD;
        if (name.contains("attn_qkv.weight")) return ATTENTION_QKV;
        if (name.contains("attn_kv_b.weight")) return ATTENTION_KV_B;
        if (name.contains("attn_v.weight")) return ATTENTION_V;
        if (name.contains("attn_k.weight")) return ATTENTION_K;
        if (name.contains("attn_q.weight")) return ATTENTION_Q;
        if (name.contains("attn_output.weight")) return ATTENTION_OUTPUT;
        if (name.contains("ffn_up")) return FFN_UP;
        if (name.contains("ffn_gate")) return FFN_GATE;
        if (name.contains("ffn_down")) return FFN_DOWN;
        return OTHER;
    }

    /** tensor_name_match_token_embd: the token embeddings and Gemma's per-layer token embeddings. */
    public static boolean isTokenEmbedding(String name) {
        return name.equals("token_embd.weight") || name.equals("per_layer_token_embd.weight");
    }

    /** category_is_attn_v: the value-like projections, which are more sensitive to quantization. */
    public boolean isAttentionV() {
        return this == ATTENTION_V || this == ATTENTION_QKV || this == ATTENTION_KV_B;
    }
}
