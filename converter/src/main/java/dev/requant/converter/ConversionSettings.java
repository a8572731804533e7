package dev.requant.converter;

import dev.requant.formats.gguf.FileType;

/**
 * What the user chose for a conversion: the output type (a {@link FileType} that {@link FileType#convertible()}, or
 * null for --type auto, resolved against the checkpoint by the planner; for NVFP4 checkpoints auto also keeps the NVFP4
 * weights NVFP4), an optional general.name override (convert_hf_to_gguf.py --model-name) and the NVFP4 fallback
 * type.
 */
public record ConversionSettings(FileType outType, String modelName, Nvfp4Options nvfp4) {
    /**
     * NVFP4 checkpoints only.
     *
     * @param fallback the type for NVFP4 weights whose per-tensor scale llama.cpp does not apply and that cannot be
     *     folded into the block scales exactly, or null: keep them NVFP4 with the nearest split ({@link Nvfp4Split})
     * @param upstreamSplit write every weight as convert_hf_to_gguf.py does (block scales as stored, the per-tensor
     *     scale in {@code .scale}), even where this llama.cpp then computes wrong values
     */
    public record Nvfp4Options(FileType fallback, boolean upstreamSplit) {
        public static final Nvfp4Options DEFAULT = new Nvfp4Options(null, false);
    }

    public ConversionSettings {
        if (nvfp4 == null) nvfp4 = Nvfp4Options.DEFAULT;
    }

    public ConversionSettings(FileType outType, String modelName) {
        this(outType, modelName, Nvfp4Options.DEFAULT);
    }

    public static ConversionSettings of(FileType t) {
        return new ConversionSettings(t, null);
    }

    /** --type auto: the checkpoint's own float type (and NVFP4 weights kept NVFP4). */
    public static ConversionSettings auto() {
        return new ConversionSettings(null, null);
    }

    /** Whether the output type is still --type auto (not yet resolved against a checkpoint). */
    public boolean isAuto() { return outType == null; }

    public ConversionSettings withModelName(String name) {
        return new ConversionSettings(outType, name, nvfp4);
    }

    public ConversionSettings withOutType(FileType t) {
        return new ConversionSettings(t, modelName, nvfp4);
    }

    public ConversionSettings withNvfp4(Nvfp4Options o) {
        return new ConversionSettings(outType, modelName, o);
    }
}
