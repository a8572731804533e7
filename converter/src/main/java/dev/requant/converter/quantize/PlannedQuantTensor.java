package dev.requant.converter.quantize;

import dev.requant.formats.gguf.GgufTensorInfo;
import dev.requant.formats.gguf.GgufTensorSpec;

/**
 * One tensor of a {@link QuantizePlan}.
 *
 * @param input the tensor as the input file holds it
 * @param output its output spec: the chosen type, dims with trailing 1s dropped (ggml_n_dims, as llama.cpp's writer)
 * @param decision the type rule's choice
 * @param importance the imatrix weights the encoder gets ({@code ne0 * ne2} floats), or null
 * @param imatrixNote what became of the imatrix for this tensor ("", "no imatrix entry", "ignored by q8_0"...)
 * @param problem why the tensor cannot be written as planned (llama-quantize fails on it in its main pass), or null
 * @param shard the input shard that holds it (0 for a single file); with --keep-split also its output shard
 */
public record PlannedQuantTensor(GgufTensorInfo input, GgufTensorSpec output, QuantDecision decision, float[] importance,
                                 String imatrixNote, String problem, int shard) {
    /** The output name (the input name, renumbered by --prune-layers). */
    public String name() { return output.name(); }

    /** The bytes are copied unchanged (the type stays). */
    public boolean copied() { return input.type() == output.type(); }
}
