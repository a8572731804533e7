package dev.requant.converter;

/**
 * What the user chose for a conversion: the output type (AUTO resolved later; for NVFP4 checkpoints AUTO also keeps the
 * NVFP4 weights NVFP4), an optional general.name override (convert_hf_to_gguf.py --model-name) and the NVFP4 fallback
 * type.
 */
public record ConversionSettings(OutType outType, String modelName, Nvfp4Options nvfp4) {
    /**
     * NVFP4 checkpoints only.
     *
     * @param fallback the type for NVFP4 weights whose per-tensor scale llama.cpp does not apply and that cannot be
     *     folded into the block scales exactly, or null: keep them NVFP4 with the nearest split ({@link Nvfp4Split})
     * @param upstreamSplit write every weight as convert_hf_to_gguf.py does (block scales as stored, the per-tensor
     *     scale in {@code .scale}), even where this llama.cpp then computes wrong values
     */
    public record Nvfp4Options(OutType fallback, boolean upstreamSplit) {
        public static final Nvfp4Options DEFAULT = new Nvfp4Options(null, false);
    }

    public ConversionSettings {
        if (nvfp4 == null) nvfp4 = Nvfp4Options.DEFAULT;
    }

    public ConversionSettings(OutType outType, String modelName) {
        this(outType, modelName, Nvfp4Options.DEFAULT);
    }

    public static ConversionSettings of(OutType t) {
        return new ConversionSettings(t, null);
    }

    public ConversionSettings withModelName(String name) {
        return new ConversionSettings(outType, name, nvfp4);
    }

    public ConversionSettings withOutType(OutType t) {
        return new ConversionSettings(t, modelName, nvfp4);
    }

    public ConversionSettings withNvfp4(Nvfp4Options o) {
        return new ConversionSettings(outType, modelName, o);
    }
}
