package dev.requant.converter;

/**
 * What the user chose for a conversion: the output type (AUTO resolved later) and an optional general.name override
 * (convert_hf_to_gguf.py --model-name).
 */
public record ConversionSettings(OutType outType, String modelName) {
    public static ConversionSettings of(OutType t) {
        return new ConversionSettings(t, null);
    }

    public ConversionSettings withModelName(String name) {
        return new ConversionSettings(outType, name);
    }

    public ConversionSettings withOutType(OutType t) {
        return new ConversionSettings(t, modelName);
    }
}
