package dev.requant.converter;

import com.fasterxml.jackson.databind.JsonNode;
import dev.requant.formats.FormatException;
import dev.requant.formats.ggml.GgmlType;
import dev.requant.formats.gguf.FileType;
import dev.requant.formats.gguf.GgufKeys.Clip;
import dev.requant.formats.gguf.GgufKeys.ClipVision;
import dev.requant.formats.gguf.GgufMetadata;
import dev.requant.formats.gguf.GgufValue;
import dev.requant.formats.safetensors.SafetensorsCheckpoint;
import java.util.List;
import java.util.Map;
import java.util.Optional;

/**
 * Gemma 3's SigLIP vision tower and projector (conversion/gemma.py Gemma3VisionModel): only
 * {@code vision_tower.*}, {@code multi_modal_projector.*} (and {@code multimodal_projector.*}, {@code vision_model.*})
 * names, {@code _weight} read as {@code .weight}, {@code mm_soft_emb_norm} plus 1 (Gemma3RMSNorm), projector type
 * {@code gemma3}.
 */
final class Gemma3Projector implements ClipProjector {
    private static final List<String> KEEP_PREFIXES = List.of("multi_modal_projector.", "vision_tower.", "multimodal_projector.", "vision_model.");
    /** SiglipVisionConfig as Gemma3Config builds it by default (transformers), for sparse released configs. */
    private static final Map<String, Number> SIGLIP_DEFAULTS = Map.of("hidden_size", 1152, "intermediate_size", 4304, "num_hidden_layers", 27,
            "num_attention_heads", 16, "image_size", 896, "patch_size", 14);

    private final Encoder vision;
    private final double layerNormEps;
    private final int imageSeqLength;

    private Gemma3Projector(Encoder vision, double layerNormEps, int imageSeqLength) {
        this.vision = vision;
        this.layerNormEps = layerNormEps;
        this.imageSeqLength = imageSeqLength;
    }

    static Gemma3Projector of(HfConfig config, JsonNode root, JsonNode preprocessor) throws FormatException {
        JsonNode v = root.path("vision_config");
        if (!v.isObject()) throw new FormatException(config.file(), "has no vision_config; there is no vision tower to convert");
        ConfigInts c = new ConfigInts(config.file(), "vision_config", v, SIGLIP_DEFAULTS);
        Encoder e = new Encoder(c.get("image_size"), c.get("patch_size"), c.get("hidden_size"), c.get("intermediate_size"),
                c.get("num_hidden_layers"), c.get("num_attention_heads"));
        return new Gemma3Projector(e, v.path("layer_norm_eps").asDouble(1e-6), preprocessor.path("image_seq_length").asInt(256));
    }

    @Override public int nameBlocks() { return vision.blocks(); }

    @Override
    public String filter(String hfName) {
        if (hfName.contains("vision_model.head.")) return null; // tinygemma3's redundant head
        if (KEEP_PREFIXES.stream().noneMatch(hfName::startsWith)) return null;
        if (hfName.contains("language_model.")) return null;
        return hfName.replace("_weight", ".weight");
    }

    @Override
    public Converted convert(SafetensorsCheckpoint.Entry entry, String name, ClipTensorNames names) throws FormatException {
        String gguf = names.map(name, List.of(".weight", ".bias")).map(ClipTensorNames.Mapped::ggufName)
                .orElseThrow(() -> new FormatException(entry.file().path(), "tensor '" + entry.name() + "' has no mmproj GGUF name (convert_hf_to_gguf.py cannot map it either)"));
        return new Converted(gguf, new CheckpointTensor(entry, -1, name.contains("soft_emb_norm.weight")));
    }

    @Override
    public Optional<GgmlType> forcedType(String name, String ggufName, FileType outType) {
        if (name.contains("input_projection")) return Optional.of(GgmlType.F16);
        if (name.contains(".embeddings.")) return Optional.of(GgmlType.F32);
        return MmprojPlanner.patchEmbeddingType(ggufName, outType);
    }

    @Override public Encoder vision() { return vision; }

    @Override public Encoder audio() { return null; }

    @Override
    public void writeKeys(GgufMetadata md) {
        md.put(Clip.PROJECTOR_TYPE, GgufValue.string("gemma3"));
        md.put(ClipVision.LAYERNORM_EPS, GgufValue.f32((float) layerNormEps));
        md.put(Clip.USE_GELU, GgufValue.bool(true));
        // the pooling factor, written only when not the released models' 4 (tiny test models)
        int perSide = (int) Math.sqrt(imageSeqLength);
        int factor = perSide == 0 ? 0 : (vision.imageSize() / vision.patchSize()) / perSide;
        if (factor > 0 && factor != 4) md.put(ClipVision.PROJECTOR_SCALE_FACTOR, GgufValue.u32(factor));
    }
}
