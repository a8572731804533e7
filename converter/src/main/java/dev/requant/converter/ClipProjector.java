package dev.requant.converter;

import dev.requant.formats.FormatException;
import dev.requant.formats.ggml.GgmlType;
import dev.requant.formats.gguf.FileType;
import dev.requant.formats.gguf.GgufMetadata;
import dev.requant.formats.safetensors.SafetensorsCheckpoint;
import java.util.Optional;

/**
 * What differs between the multimodal projector converters of convert_hf_to_gguf.py (conversion/gemma.py
 * Gemma3VisionModel, Gemma4VisionAudioModel, Gemma4UnifiedVisionAudioModel) on top of base.py's MmprojModel:
 * which checkpoint tensors belong to the projector, how each is renamed and transformed, which types are forced,
 * the encoders' hyperparameters and the keys written after MmprojModel's.
 */
sealed interface ClipProjector permits Gemma3Projector, Gemma4Projector {
    /** The block count the tensor-name map is built for (128 where vision and audio share one file). */
    int nameBlocks();

    /** filter_tensors: the name the tensor is converted under, or null when it is no part of the projector. */
    String filter(String hfName);

    /** modify_tensors: the GGUF name and where the values come from. */
    Converted convert(SafetensorsCheckpoint.Entry entry, String name, ClipTensorNames names) throws FormatException;

    /** tensor_force_quant, given the filtered HF name and the GGUF name; empty = no forced type. */
    Optional<GgmlType> forcedType(String name, String ggufName, FileType outType);

    /** The vision encoder's hyperparameters as MmprojModel writes them, or null. */
    Encoder vision();

    /** The audio encoder's, or null. */
    Encoder audio();

    /** set_gguf_parameters after MmprojModel's part. */
    void writeKeys(GgufMetadata md);

    /** One converted tensor. */
    record Converted(String ggufName, TensorRecipe recipe) {}

    /**
     * One encoder's clip keys: image and patch size (vision only, else 0), width, feed-forward length, blocks, heads.
     */
    record Encoder(int imageSize, int patchSize, int width, int feedForward, int blocks, int heads) {}
}
