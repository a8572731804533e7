package dev.requant.formats.nvfp4;

/** The two Hugging Face NVFP4 layouts requant reads and writes (qat-nvfp4-facts.md §2.2, §2.3). */
public enum Nvfp4Format {
    /** NVIDIA ModelOpt: {@code weight}, {@code weight_scale}, {@code weight_scale_2}, {@code input_scale}. */
    MODELOPT,
    /** compressed-tensors nvfp4-pack-quantized: {@code weight_packed}, {@code weight_scale}, {@code *_global_scale}. */
    COMPRESSED_TENSORS;

    public GlobalScale.Convention convention() {
        return this == MODELOPT ? GlobalScale.Convention.MULTIPLIER : GlobalScale.Convention.DIVISOR;
    }
}
