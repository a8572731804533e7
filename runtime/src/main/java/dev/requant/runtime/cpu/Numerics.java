package dev.requant.runtime.cpu;

/**
 * Which arithmetic conventions the forward pass follows where reference implementations differ by more than float
 * rounding.
 */
public enum Numerics {
    /**
     * llama.cpp's: RoPE inverse frequencies base^(-2i/n_rot) and the embedding scales sqrtf(n_embd), sqrtf(n_ple)
     * exact in float (frequencies computed in double here). The default, and what eval uses.
     */
    LLAMA_CPP,
    /**
     * A transformers model that was loaded in bfloat16 and then cast to float32: its non-persistent buffers keep
     * bf16-rounded values, namely the RoPE {@code inv_freq} and the scaled-embedding factors ({@code embed_scale}).
     * Only for comparing against logits made that way (the golden transformers logits are); at position 80 the
     * frequency rounding alone moves logits by ~1e-3 of their range.
     */
    TRANSFORMERS_BF16_BUFFERS
}
