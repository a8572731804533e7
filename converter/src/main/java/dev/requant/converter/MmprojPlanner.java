package dev.requant.converter;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.JsonNodeFactory;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.requant.formats.FormatException;
import dev.requant.formats.ggml.GgmlType;
import dev.requant.formats.gguf.FileType;
import dev.requant.formats.gguf.GgufArray;
import dev.requant.formats.gguf.GgufKeys.Clip;
import dev.requant.formats.gguf.GgufKeys.ClipAudio;
import dev.requant.formats.gguf.GgufKeys.ClipVision;
import dev.requant.formats.gguf.GgufKeys.General;
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
import java.util.Optional;
import java.util.Set;

/**
 * The multimodal projector GGUF ({@code requant convert --mmproj}) as convert_hf_to_gguf.py --mmproj writes it
 * (conversion/base.py MmprojModel with the Gemma classes of conversion/gemma.py, see {@link ClipProjector}):
 * architecture {@code clip}, general.type {@code mmproj}, the encoders' tensors under llama.cpp's {@code v.*},
 * {@code a.*} and {@code mm.*} names (gguf-py's TensorNameMap, {@link ClipTensorNames}) in checkpoint order, and the
 * {@code clip.*} keys mtmd reads, in the Python converter's order.
 *
 * <ul>
 *   <li>Gemma 3 ({@code Gemma3ForConditionalGeneration}): SigLIP + projector, {@code gemma3}.</li>
 *   <li>Gemma 4 ({@code Gemma4ForConditionalGeneration}): vision {@code gemma4v}, audio {@code gemma4a} when the
 *       checkpoint has an audio_config.</li>
 *   <li>Gemma 4 unified ({@code Gemma4UnifiedForConditionalGeneration}): {@code gemma4uv} and {@code gemma4ua}.</li>
 * </ul>
 * Types follow prepare_tensors: a forced type of the class, overridden by F32 for vectors and {@code _norm.weight};
 * position embeddings and names not ending in {@code .weight} F32; the rest --type (a Q8_0 row that is not a multiple
 * of 32 falls back to F16).
 */
public final class MmprojPlanner {
    /** prepare_tensors skips these. */
    private static final List<String> SKIPPED_SUFFIXES = List.of(".attention.masked_bias", ".attention.bias", ".rotary_emb.inv_freq");

    private MmprojPlanner() {}

    public static ConversionPlan plan(Path dir, ConversionSettings settings) throws IOException {
        return plan(dir, settings, TypePolicy.defaults());
    }

    /**
     * Plans with the rules of {@code policy} that are not convert_hf_to_gguf.py's defaults (lattice encoders) placed
     * just before --type, after the projector's own rules.
     */
    public static ConversionPlan plan(Path dir, ConversionSettings settings, TypePolicy policy) throws IOException {
        return plan(dir, settings, policy, null);
    }

    /** Whether requant writes a projector for this checkpoint's class. */
    public static boolean hasProjector(HfConfig config) {
        return PROJECTOR_CLASSES.contains(config.hfClass());
    }

    private static final Set<String> PROJECTOR_CLASSES = Set.of("Gemma3ForConditionalGeneration", "Gemma4ForConditionalGeneration",
            "Gemma4UnifiedForConditionalGeneration");

    /**
     * The projector's tensors in the types they are stored in (BF16 stays BF16), named and transformed as --mmproj does:
     * what qat-report analyses.
     */
    public static ConversionPlan planAsStored(Path dir) throws IOException {
        TypeRule stored = TypePolicy.rule("as stored", t -> switch (t.recipe().sourceType()) {
            case "BF16" -> Optional.of(new TypeDecision(GgmlType.BF16, "as stored"));
            case "F16" -> Optional.of(new TypeDecision(GgmlType.F16, "as stored"));
            case "F32" -> Optional.of(new TypeDecision(GgmlType.F32, "as stored"));
            default -> Optional.empty();
        });
        return plan(dir, ConversionSettings.of(FileType.BF16), TypePolicy.defaults(), stored);
    }

    private static ConversionPlan plan(Path dir, ConversionSettings settings, TypePolicy policy, TypeRule first) throws IOException {
        if (!Files.isDirectory(dir)) throw new FormatException(dir, "is not a Hugging Face model folder");
        HfConfig config = HfConfig.readForProjector(dir);
        JsonNode root = JsonFile.read(config.file());
        JsonNode pre = preprocessor(dir);
        ClipProjector projector = switch (config.hfClass()) {
            case "Gemma3ForConditionalGeneration" -> Gemma3Projector.of(config, root, pre);
            case "Gemma4ForConditionalGeneration" -> Gemma4Projector.of(config, root, false);
            case "Gemma4UnifiedForConditionalGeneration" -> Gemma4Projector.of(config, root, true);
            default -> throw new FormatException(config.file(), "is " + config.hfClass() + ", which has no vision or audio encoder; requant writes mmproj files for "
                    + "Gemma3ForConditionalGeneration, Gemma4ForConditionalGeneration and Gemma4UnifiedForConditionalGeneration");
        };
        if (projector.vision() != null) {
            numbers(pre, "image_mean", dir); // fail before reading tensors
            numbers(pre, "image_std", dir);
        }
        SafetensorsCheckpoint ck = SafetensorsCheckpoint.open(dir);
        try {
            settings = resolveAuto(settings, ck, projector);
            ClipTensorNames names = ClipTensorNames.forBlocks(projector.nameBlocks());
            TypePolicy rules = policy(projector, policy);
            if (first != null) rules = rules.insertBefore(TypePolicy.F32_VECTORS_AND_NORMS, first);
            List<PlannedTensor> planned = new ArrayList<>();
            List<String> dropped = new ArrayList<>();
            for (SafetensorsCheckpoint.Entry e : ck.entries()) {
                String name = projector.filter(e.name());
                if (name == null) {
                    dropped.add(e.name());
                    continue;
                }
                if (SKIPPED_SUFFIXES.stream().anyMatch(name::endsWith)) continue;
                if (!Set.of(SafetensorsDtype.BF16, SafetensorsDtype.F16, SafetensorsDtype.F32).contains(e.tensor().dtype())) {
                    throw new FormatException(e.file().path(), "tensor '" + e.name() + "' is " + e.tensor().dtype() + "; mmproj conversion reads float tensors");
                }
                ClipProjector.Converted c = projector.convert(e, name, names);
                Integer bid = blockId(name);
                TypeDecision d = rules.decide(new TensorCandidate(c.ggufName(), name, bid, c.recipe(), settings));
                planned.add(new PlannedTensor(c.ggufName(), e.name(), bid, c.recipe(), d));
            }
            if (planned.isEmpty()) throw new FormatException(dir, "has no vision or audio tensors for the " + config.hfClass() + " projector");
            Set<String> seen = new java.util.HashSet<>();
            for (PlannedTensor t : planned) {
                if (!seen.add(t.ggufName())) throw new FormatException(dir, "two tensors map to " + t.ggufName() + " (the last is " + t.hfName() + ")");
            }
            GgufMetadata md = metadata(dir, config, projector, pre, settings, planned);
            return new ConversionPlan(config, settings, planned, dropped, md, ck, null);
        } catch (IOException | RuntimeException ex) {
            ck.close();
            throw ex;
        }
    }

    /** prepare_tensors' block id: the first dot-separated part of the name that is a number. */
    static Integer blockId(String name) {
        for (String part : name.split("\\.")) {
            if (!part.isEmpty() && part.chars().allMatch(ch -> ch >= '0' && ch <= '9')) return Integer.valueOf(part);
        }
        return null;
    }

    /** MmprojModel.tensor_force_quant: the patch embedding (and merger) F16 for f16 output, else F32. */
    static Optional<GgmlType> patchEmbeddingType(String ggufName, FileType outType) {
        if (ggufName.contains(".patch_embd.weight") || ggufName.contains(".patch_merger.weight")) {
            return Optional.of(outType == FileType.F16 ? GgmlType.F16 : GgmlType.F32);
        }
        return Optional.empty();
    }

    /** --outtype auto: BF16 if the first projector tensor of 2+ dims is bfloat16, F16 if float16, else keep looking; F16 if none. */
    private static ConversionSettings resolveAuto(ConversionSettings s, SafetensorsCheckpoint ck, ClipProjector projector) {
        if (!s.isAuto()) return s;
        for (SafetensorsCheckpoint.Entry e : ck.entries()) {
            if (e.tensor().rank() < 2 || projector.filter(e.name()) == null) continue;
            if (e.tensor().dtype() == SafetensorsDtype.BF16) return s.withOutType(FileType.BF16);
            if (e.tensor().dtype() == SafetensorsDtype.F16) return s.withOutType(FileType.F16);
        }
        return s.withOutType(FileType.F16);
    }

    /**
     * prepare_tensors' order: the class's forced type, overridden by F32 for 1-D tensors and norms; then F32 for the
     * position embeddings (outside blocks) and for names not ending in .weight; then --type. Rules of {@code given}
     * that are not the defaults (lattice encoders) go just before --type, so they decide only tensors that would get it.
     */
    private static TypePolicy policy(ClipProjector projector, TypePolicy given) {
        TypeRule force = TypePolicy.rule("mmproj: forced type", t -> projector.forcedType(t.hfName(), t.ggufName(), t.settings().outType())
                .map(ty -> new TypeDecision(ty, "mmproj: forced " + ty.ggmlName())));
        TypeRule f32 = TypePolicy.rule("mmproj: f32 position embedding / not .weight", t -> {
            String n = t.ggufName();
            boolean pos = t.blockId() == null && (n.equals("v.position_embd.weight") || n.equals("a.position_embd.weight"));
            boolean weightLike = n.endsWith(".weight") || n.endsWith(".lora_a") || n.endsWith(".lora_b");
            return pos || !weightLike ? Optional.of(new TypeDecision(GgmlType.F32, "mmproj: f32 kind")) : Optional.empty();
        });
        TypePolicy p = TypePolicy.defaults().insertAfter(TypePolicy.F32_VECTORS_AND_NORMS, force).insertAfter("mmproj: forced type", f32);
        for (TypeRule extra : given.rules()) {
            if (!TypePolicy.DEFAULT_NAMES.contains(extra.name())) p = p.insertBefore(TypePolicy.OUT_TYPE, extra);
        }
        return p;
    }

    /** preprocessor_config.json, then processor_config.json (its image_processor lifted to the top), merged. */
    private static JsonNode preprocessor(Path dir) throws IOException {
        ObjectNode out = JsonNodeFactory.instance.objectNode();
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

    /** prepare_metadata: general.* (architecture, type, authorship), MmprojModel's keys, the class's keys, the quantization version. */
    private static GgufMetadata metadata(Path dir, HfConfig config, ClipProjector projector, JsonNode pre, ConversionSettings settings,
                                         List<PlannedTensor> tensors) throws IOException {
        GgufMetadata md = new GgufMetadata();
        md.put(General.ARCHITECTURE, GgufValue.string("clip"));
        md.put(General.TYPE, GgufValue.string("mmproj"));
        ModelNaming.load(dir, settings.modelName(), GemmaMetadata.parameterCounts(tensors)).writeTo(md);
        md.put(General.FILE_TYPE, GgufValue.u32(settings.outType().id()));
        ClipProjector.Encoder v = projector.vision();
        if (v != null) {
            md.put(Clip.HAS_VISION_ENCODER, GgufValue.bool(true));
            md.put(ClipVision.PROJECTION_DIM, GgufValue.u32(config.embeddingLength()));
            md.put(ClipVision.IMAGE_SIZE, GgufValue.u32(v.imageSize()));
            md.put(ClipVision.PATCH_SIZE, GgufValue.u32(v.patchSize()));
            md.put(ClipVision.EMBEDDING_LENGTH, GgufValue.u32(v.width()));
            md.put(ClipVision.FEED_FORWARD_LENGTH, GgufValue.u32(v.feedForward()));
            md.put(ClipVision.BLOCK_COUNT, GgufValue.u32(v.blocks()));
            md.put(ClipVision.HEAD_COUNT, GgufValue.u32(v.heads()));
            md.put(ClipVision.IMAGE_MEAN, numbers(pre, "image_mean", dir));
            md.put(ClipVision.IMAGE_STD, numbers(pre, "image_std", dir));
        }
        ClipProjector.Encoder a = projector.audio();
        if (a != null) {
            md.put(Clip.HAS_AUDIO_ENCODER, GgufValue.bool(true));
            md.put(ClipAudio.PROJECTION_DIM, GgufValue.u32(config.embeddingLength()));
            md.put(ClipAudio.EMBEDDING_LENGTH, GgufValue.u32(a.width()));
            md.put(ClipAudio.FEED_FORWARD_LENGTH, GgufValue.u32(a.feedForward()));
            md.put(ClipAudio.BLOCK_COUNT, GgufValue.u32(a.blocks()));
            md.put(ClipAudio.HEAD_COUNT, GgufValue.u32(a.heads()));
        }
        projector.writeKeys(md);
        md.put(General.QUANTIZATION_VERSION, GgufValue.u32(2));
        return md;
    }

    /**
     * gguf-py's array of a JSON number list: FLOAT32 for floats, INT32 for integers (the type of the first element; a
     * list that mixes them is refused, as gguf-py refuses it).
     */
    private static GgufValue numbers(JsonNode pre, String key, Path dir) throws FormatException {
        JsonNode a = pre.get(key);
        if (a == null || !a.isArray() || a.isEmpty()) {
            throw new FormatException(dir.resolve("preprocessor_config.json"), "has no " + key + " list (convert_hf_to_gguf.py --mmproj needs it)");
        }
        boolean ints = a.get(0).isIntegralNumber();
        for (JsonNode n : a) {
            if (!n.isNumber() || n.isIntegralNumber() != ints) {
                throw new FormatException(dir.resolve("preprocessor_config.json"), key + " mixes integers and other values: " + a);
            }
        }
        if (ints) {
            int[] v = new int[a.size()];
            for (int i = 0; i < v.length; i++) v[i] = a.get(i).asInt();
            return GgufValue.array(GgufArray.ofInt32(v));
        }
        float[] v = new float[a.size()];
        for (int i = 0; i < v.length; i++) v[i] = (float) a.get(i).asDouble();
        return GgufValue.array(GgufArray.ofFloat32(v));
    }
}
