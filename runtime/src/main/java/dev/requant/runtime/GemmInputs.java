package dev.requant.runtime;

/**
 * How a GPU session feeds float32 activations to its bf16 weight GEMMs (cuBLAS, float32 accumulation).
 * {@link #SPLIT_BF16} (a session's default, and eval's) runs each product twice, on {@code hi = bf16(x)} and on
 * {@code lo = bf16(x - hi)}, which carries x to about 2^-16: the GPU then stays within ~3e-4 of the CPU's float32 pass
 * on imatrix sums, and eval's KLD within 2% of the CPU's. {@link #BF16} rounds x to bf16 once, as llama.cpp's CUDA and
 * CPU backends do for bf16 weights: about 1.7x as fast, ~2e-3 from the CPU on sensitive tensors (the CPU pass itself is
 * 1.4e-3 from llama-imatrix), which is why imatrix collection uses it by default.
 */
public enum GemmInputs { SPLIT_BF16, BF16 }
