package dev.requant.converter.quantize;

import dev.requant.formats.ggml.GgmlType;

/**
 * The output type llama-quantize's rules give one tensor, and why.
 *
 * @param type the output type (the input type when the tensor is not quantized)
 * @param rule the rule that chose it, for --dry-run ("output: q6_K", "--tensor-type attn_v=q8_0", "kept: 1-D"...)
 * @param quantizable tensor_allows_quantization
 * @param requiresImatrix tensor_requires_imatrix (very low-bit targets)
 */
public record QuantDecision(GgmlType type, String rule, boolean quantizable, boolean requiresImatrix) {}
