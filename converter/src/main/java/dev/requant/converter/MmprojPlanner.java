package dev.requant.converter;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.requant.formats.FormatException;
import dev.requant.formats.gguf.FileType;
import dev.requant.formats.model.GemmaArch;
import dev.requant.formats.ggml.GgmlType;
import dev.requant.formats.gguf.GgufArray;
import dev.requant.formats.gguf.GgufMetadata;
import dev.requant.formats.gguf.GgufValue;
import dev.requant.formats.io.JsonFile;
import dev.requant.formats.safetensors.SafetensorsCheckpoint;
import dev.requant.formats.safetensors.SafetensorsDtype;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * The multimodal projector GGUF ({@code requant convert --mmproj}) of a Gemma 3 checkpoint, as convert_hf_to_gguf.py
 * --mmproj writes it (conversion/gemma.py Gemma3VisionModel over base.py MmprojModel): architecture {@code clip},
 * general.type {@code mmproj}, the SigLIP vision tower and the Gemma 3 projector under llama.cpp's {@code v.*} /
 * {@code mm.*} names, and the {@code clip.*} keys mtmd reads.
 *
 * <ul>
 *   <li>Tensors: only {@code vision_tower.*}, {@code multi_modal_projector.*} (and {@code vision_model.*}) names, as
 *       Gemma3VisionModel.filter_tensors keeps them (a {@code model.} prefix is not stripped there, and
 *       {@code vision_model.head.*} is skipped); {@code _weight} becomes {@code .weight}; {@code mm_soft_emb_norm}
 *       gets 1 added in float32 (Gemma3RMSNorm).</li>
 *   <li>Types: {@code mm.input_projection} F16, everything under {@code .embeddings.} F32 (tensor_force_quant),
 *       1-D and {@code _norm.weight} F32, position embeddings F32, the rest --type (auto: the checkpoint's float
 *       type, as for the text model).</li>
 *   <li>Keys: file type, has_vision_encoder, projection_dim (the text model's hidden size), image/patch size, width,
 *       feed-forward, blocks, heads, image mean/std from preprocessor_config.json, projector type gemma3, layer-norm
 *       epsilon, use_gelu, and the projector scale factor when it is not 4 (tiny test models).</li>
 * </ul>
 * Gemma 4 (gemma4v / gemma4a, unified gemma4uv / gemma4ua) projectors are not written yet.
 */
public final class MmprojPlanner {
    private static final List<String> KEEP_PREFIXES = List.of("multi_modal_projector.", "vision_tower.", "multimodal_projector.", "vision_model.");
    private static final Pattern LAYER = Pattern.compile("(?:model\\.)?vision_tower\\.vision_model\\.encoder\\.layers\\.(\\d+)\\.(.+)");
    private static final Map<String, String> GLOBAL = Map.ofEntries(
            Map.entry("vision_tower.vision_model.embeddings.patch_embedding", "v.patch_embd"),
            Map.entry("vision_tower.vision_model.embeddings.position_embedding", "v.position_embd"),
            Map.entry("vision_tower.vision_model.post_layernorm", "v.post_ln"),
            Map.entry("vision_tower.vision_model.pre_layrnorm", "v.pre_ln"),
            Map.entry("vision_tower.vision_model.embeddings.class_embedding", "v.class_embd"),
            Map.entry("multi_modal_projector.mm_input_projection", "mm.input_projection"),
            Map.entry("multi_modal_projector.mm_soft_emb_norm", "mm.soft_emb_norm"));
    private static final Map<String, String> LAYER_NAMES = Map.of(
            "self_attn.q_proj", "attn_q", "self_attn.k_proj", "attn_k", "self_attn.v_proj", "attn_v", "self_attn.out_proj", "attn_out",
            "layer_norm1", "ln1", "layer_norm2", "ln2", "mlp.fc1", "ffn_up", "mlp.fc2", "ffn_down");
    /** SiglipVisionConfig as Gemma3Config builds it by default (transformers), for sparse released configs. */
    private static final Map<String, Number> SIGLIP_DEFAULTS = Map.of("hidden_size", 1152, "intermediate_size", 4304, "num_hidden_layers", 27,
            "num_attention_heads", 16, "image_size", 896, "patch_size", 14, "layer_norm_eps", 1e-6);

    private MmprojPlanner() {}

    public static ConversionPlan plan(Path dir, ConversionSettings settings) throws IOException {
        HfConfig config = HfConfig.read(dir);
        if (config.arch() != GemmaArch.GEMMA3 || config.hfClass().endsWith("ForCausalLM")) {
            throw new FormatException(config.file(), "is " + config.hfClass() + "; requant writes mmproj files for Gemma3ForConditionalGeneration"
                    + " (Gemma 4 vision/audio projectors are not supported yet)");
        }
        JsonNode root = JsonFile.read(config.file());
        JsonNode v = root.path("vision_config");
        if (!v.isObject()) throw new FormatException(config.file(), "has no vision_config; there is no vision tower to convert");
        ObjectNode vision = ((ObjectNode) v).deepCopy();
        SIGLIP_DEFAULTS.forEach((k, d) -> { if (!vision.has(k) || vision.get(k).isNull()) vision.put(k, d.doubleValue() == d.intValue() ? d.intValue() : d.doubleValue()); });
        JsonNode pre = preprocessor(dir);
        SafetensorsCheckpoint ck = SafetensorsCheckpoint.open(dir);
        try {
            settings = GemmaPlanner.resolveAuto(settings, ck, config);
            List<PlannedTensor> planned = new ArrayList<>();
            List<String> dropped = new ArrayList<>();
            TypePolicy policy = policy();
            for (SafetensorsCheckpoint.Entry e : ck.entries()) {
                String name = e.name();
                if (name.contains("vision_model.head.") || KEEP_PREFIXES.stream().noneMatch(name::startsWith) || name.contains("language_model.")) {
                    dropped.add(name);
                    continue;
                }
                name = name.replace("_weight", ".weight");
                if (!java.util.Set.of(SafetensorsDtype.BF16, SafetensorsDtype.F16, SafetensorsDtype.F32).contains(e.tensor().dtype())) {
                    throw new FormatException(e.file().path(), "tensor '" + e.name() + "' is " + e.tensor().dtype() + "; mmproj conversion reads float tensors");
                }
                String gguf = ggufName(name).orElseThrow(() -> new FormatException(e.file().path(), "tensor '" + e.name() + "' has no mmproj GGUF name"));
                boolean addOne = name.contains("soft_emb_norm.weight");
                planned.add(decide(policy, settings, gguf, e.name(), name, new CheckpointTensor(e, -1, addOne)));
            }
            if (planned.isEmpty()) throw new FormatException(dir, "has no vision_tower.* or multi_modal_projector.* tensors");
            GgufMetadata md = metadata(dir, config, vision, pre, settings, planned);
            return new ConversionPlan(config, settings, planned, dropped, md, ck, null);
        } catch (IOException | RuntimeException ex) {
            ck.close();
            throw ex;
        }
    }

    /** TensorNameMap: the whole name, else the name without .weight/.bias, then the suffix again. */
    static java.util.Optional<String> ggufName(String name) {
        for (String suffix : new String[] {"", ".weight", ".bias"}) {
            if (!name.endsWith(suffix)) continue;
            String base = name.substring(0, name.length() - suffix.length());
            String g = GLOBAL.get(base.startsWith("model.") ? base.substring(6) : base);
            if (g == null) {
                Matcher m = LAYER.matcher(base);
                if (m.matches() && LAYER_NAMES.containsKey(m.group(2))) g = "v.blk." + m.group(1) + "." + LAYER_NAMES.get(m.group(2));
            }
            if (g != null) return java.util.Optional.of(g + suffix);
            if (suffix.isEmpty()) continue;
        }
        return java.util.Optional.empty();
    }

    /** prepare_tensors' order of type decisions with Gemma3VisionModel.tensor_force_quant in front. */
    private static TypePolicy policy() {
        TypeRule force = TypePolicy.rule("mmproj: gemma3 forced type", t -> {
            String hf = t.hfName();
            if (t.nDims() <= 1 || t.ggufName().endsWith("_norm.weight")) return java.util.Optional.empty(); // F32 anyway
            if (hf.contains("input_projection")) return java.util.Optional.of(new TypeDecision(GgmlType.F16, "mmproj: input_projection f16"));
            if (hf.contains(".embeddings.")) return java.util.Optional.of(new TypeDecision(GgmlType.F32, "mmproj: embeddings f32"));
            if (t.ggufName().contains(".patch_embd.weight")) {
                GgmlType ty = t.settings().outType() == FileType.F16 ? GgmlType.F16 : GgmlType.F32;
                return java.util.Optional.of(new TypeDecision(ty, "mmproj: patch_embd"));
            }
            if (t.ggufName().equals("v.position_embd.weight")) return java.util.Optional.of(new TypeDecision(GgmlType.F32, "mmproj: position embedding f32"));
            return java.util.Optional.empty();
        });
        return TypePolicy.defaults().insertAfter(TypePolicy.F32_VECTORS_AND_NORMS, force);
    }

    private static PlannedTensor decide(TypePolicy policy, ConversionSettings settings, String gguf, String source, String hfName, TensorRecipe recipe) {
        TypeDecision d = policy.decide(new TensorCandidate(gguf, hfName, null, recipe, settings));
        return new PlannedTensor(gguf, source, null, recipe, d);
    }

    /** preprocessor_config.json, then processor_config.json (its image_processor lifted to the top), merged. */
    private static JsonNode preprocessor(Path dir) throws IOException {
        ObjectNode out = HfConfig.JSON.createObjectNode();
        Path pp = dir.resolve("preprocessor_config.json");
        if (Files.isRegularFile(pp)) {
            JsonNode j = JsonFile.read(pp);
            if (j.isObject()) {
                out.setAll((ObjectNode) j);
                if (j.path("media_proc_cfg").isObject()) out.setAll((ObjectNode) j.get("media_proc_cfg"));
            }
        }
        Path p = dir.resolve("processor_config.json");
        if (Files.isRegularFile(p)) {
            JsonNode j = JsonFile.read(p);
            if (j.isObject()) {
                out.setAll((ObjectNode) j);
                if (j.path("image_processor").isObject()) out.setAll((ObjectNode) j.get("image_processor"));
            }
        }
        return out;
    }

    private static GgufMetadata metadata(Path dir, HfConfig config, JsonNode vision, JsonNode pre, ConversionSettings settings, List<PlannedTensor> tensors)
            throws IOException {
        GgufMetadata md = new GgufMetadata();
        md.put("general.architecture", GgufValue.string("clip"));
        md.put("general.type", GgufValue.string("mmproj"));
        ModelNaming.load(dir, settings.modelName(), GemmaMetadata.parameterCounts(tensors)).writeTo(md);
        md.put("general.file_type", GgufValue.u32(settings.outType().id()));
        md.put("clip.has_vision_encoder", GgufValue.bool(true));
        md.put("clip.vision.projection_dim", GgufValue.u32(config.embeddingLength()));
        int imageSize = intOf(vision, config, "image_size");
        int patchSize = intOf(vision, config, "patch_size");
        md.put("clip.vision.image_size", GgufValue.u32(imageSize));
        md.put("clip.vision.patch_size", GgufValue.u32(patchSize));
        md.put("clip.vision.embedding_length", GgufValue.u32(intOf(vision, config, "hidden_size")));
        md.put("clip.vision.feed_forward_length", GgufValue.u32(intOf(vision, config, "intermediate_size")));
        md.put("clip.vision.block_count", GgufValue.u32(intOf(vision, config, "num_hidden_layers")));
        md.put("clip.vision.attention.head_count", GgufValue.u32(intOf(vision, config, "num_attention_heads")));
        md.put("clip.vision.image_mean", GgufValue.array(GgufArray.ofFloat32(floats(pre, "image_mean", dir))));
        md.put("clip.vision.image_std", GgufValue.array(GgufArray.ofFloat32(floats(pre, "image_std", dir))));
        md.put("clip.projector_type", GgufValue.string("gemma3"));
        md.put("clip.vision.attention.layer_norm_epsilon", GgufValue.f32((float) vision.path("layer_norm_eps").asDouble(1e-6)));
        md.put("clip.use_gelu", GgufValue.bool(true));
        int seq = pre.path("image_seq_length").asInt(256);
        int perSide = (int) Math.sqrt(seq);
        int factor = (imageSize / patchSize) / perSide;
        if (factor > 0 && factor != 4) md.put("clip.vision.projector.scale_factor", GgufValue.u32(factor));
        md.put("general.quantization_version", GgufValue.u32(2));
        return md;
    }

    private static int intOf(JsonNode vision, HfConfig config, String key) throws FormatException {
        JsonNode n = vision.get(key);
        if (n == null || !n.canConvertToInt()) throw new FormatException(config.file(), "vision_config." + key + " is missing or not an integer");
        return n.asInt();
    }

    /** gguf-py writes a Python float list as FLOAT32 values. */
    private static float[] floats(JsonNode pre, String key, Path dir) throws FormatException {
        JsonNode a = pre.get(key);
        if (a == null || !a.isArray() || a.isEmpty()) {
            throw new FormatException(dir.resolve("preprocessor_config.json"), "has no " + key + " list (convert_hf_to_gguf.py --mmproj needs it)");
        }
        float[] v = new float[a.size()];
        for (int i = 0; i < v.length; i++) v[i] = (float) a.get(i).asDouble();
        return v;
    }
}
