package dev.requant.converter;

import com.fasterxml.jackson.databind.JsonNode;
import dev.requant.formats.FormatException;
import dev.requant.formats.ggml.GgmlType;
import dev.requant.formats.gguf.FileType;
import dev.requant.formats.gguf.GgufKeys.ClipAudio;
import dev.requant.formats.gguf.GgufKeys.ClipVision;
import dev.requant.formats.gguf.GgufMetadata;
import dev.requant.formats.gguf.GgufValue;
import dev.requant.formats.safetensors.SafetensorsCheckpoint;
import java.util.List;
import java.util.Map;
import java.util.Optional;

/**
 * Gemma 4's vision and audio encoders (conversion/gemma.py Gemma4VisionAudioModel, projector types {@code gemma4v} /
 * {@code gemma4a}) and the unified model's raw-patch and raw-waveform embedders (Gemma4UnifiedVisionAudioModel,
 * {@code gemma4uv} / {@code gemma4ua}). Every tensor outside the language model belongs to the projector.
 *
 * <ul>
 *   <li>Vision: {@code model.vision_tower.encoder.} becomes {@code vision_model.model.}, {@code .linear.weight}
 *       {@code .weight}; {@code layer_scalar} and {@code position_embedding_table} get {@code .weight}; the patch
 *       input projection {@code [n_embd, p*p*3]} (HWC pixels) becomes {@code [n_embd, 3, p, p]} (CHW).</li>
 *   <li>Audio: {@code model.audio_tower.} becomes {@code conformer.}, {@code .linear.} {@code .}; per_dim_(key_)scale
 *       get {@code .weight} and softplus; the depthwise conv {@code [C, 1, K]} becomes {@code [C, K]}.</li>
 *   <li>Unified: the 2-D position table {@code [P, 2, D]} becomes {@code [2, P, D]}; {@code pos_norm} is stored as
 *       {@code patch_ln3}; the columns of {@code patch_dense} and the values of {@code patch_ln1} are reordered from
 *       HWC to CHW, as ggml's im2col delivers pixels.</li>
 *   <li>Scalars (clip bounds) become 1-element vectors. Types: audio conv weights and the position table F32, the patch
 *       embedding F16 for f16 output else F32, then the usual rules.</li>
 * </ul>
 */
final class Gemma4Projector implements ClipProjector {
    /** transformers' Gemma4VisionConfig / Gemma4AudioConfig defaults, for sparse released configs. */
    private static final Map<String, Number> VISION_DEFAULTS = Map.of("hidden_size", 768, "intermediate_size", 3072, "num_hidden_layers", 16,
            "num_attention_heads", 12, "patch_size", 16, "pooling_kernel_size", 3);
    private static final Map<String, Number> AUDIO_DEFAULTS = Map.of("hidden_size", 1024, "num_hidden_layers", 12, "num_attention_heads", 8,
            "input_feat_size", 128);
    /** Gemma4UnifiedVisionConfig / Gemma4UnifiedAudioConfig defaults. */
    private static final Map<String, Number> UNIFIED_VISION_DEFAULTS = Map.of("patch_size", 16, "pooling_kernel_size", 3, "mm_embed_dim", 3840);
    private static final Map<String, Number> UNIFIED_AUDIO_DEFAULTS = Map.of("audio_embed_dim", 640, "input_feat_size", 128);
    private static final List<String> SUFFIXES = List.of(".weight", ".bias", ".input_max", ".input_min", ".output_max", ".output_min");

    private final boolean unified;
    private final Encoder vision;
    private final Encoder audio;
    private final double visionEps;
    private final double audioEps;
    private final int melBins;
    /** Unified: the side of a model patch in pixels (patch_size x pooling_kernel_size). */
    private final int modelPatch;

    private Gemma4Projector(boolean unified, Encoder vision, Encoder audio, double visionEps, double audioEps, int melBins, int modelPatch) {
        this.unified = unified;
        this.vision = vision;
        this.audio = audio;
        this.visionEps = visionEps;
        this.audioEps = audioEps;
        this.melBins = melBins;
        this.modelPatch = modelPatch;
    }

    static Gemma4Projector of(HfConfig config, JsonNode root, boolean unified) throws FormatException {
        JsonNode v = root.path("vision_config");
        if (!v.isObject()) throw new FormatException(config.file(), "has no vision_config; convert_hf_to_gguf.py --mmproj needs the vision encoder of " + config.hfClass());
        JsonNode a = root.path("audio_config");
        boolean hasAudio = a.isObject() && !a.isEmpty();
        if (unified && !hasAudio) throw new FormatException(config.file(), "has no audio_config; convert_hf_to_gguf.py --mmproj needs both embedders of " + config.hfClass());
        Encoder vision;
        int modelPatch = 0;
        // the image size is not used by mtmd for Gemma 4 (variable resolution); the Python converter writes 224
        if (unified) {
            ConfigInts c = new ConfigInts(config.file(), "vision_config", v, UNIFIED_VISION_DEFAULTS);
            modelPatch = c.node().has("model_patch_size") ? c.get("model_patch_size") : c.get("patch_size") * c.get("pooling_kernel_size");
            vision = new Encoder(224, c.get("patch_size"), c.get("mm_embed_dim"), 0, 0, 0);
        } else {
            ConfigInts c = new ConfigInts(config.file(), "vision_config", v, VISION_DEFAULTS);
            vision = new Encoder(224, c.get("patch_size"), c.get("hidden_size"), c.get("intermediate_size"), c.get("num_hidden_layers"),
                    c.get("num_attention_heads"));
        }
        Encoder audio = null;
        int mel = 0;
        if (hasAudio) {
            ConfigInts c = new ConfigInts(config.file(), "audio_config", a, unified ? UNIFIED_AUDIO_DEFAULTS : AUDIO_DEFAULTS);
            mel = c.get("input_feat_size");
            if (unified) {
                audio = new Encoder(0, 0, c.get("audio_embed_dim"), 0, 0, 0);
            } else {
                int width = c.get("hidden_size");
                audio = new Encoder(0, 0, width, width * 4, c.get("num_hidden_layers"), c.get("num_attention_heads"));
            }
        }
        return new Gemma4Projector(unified, vision, audio, v.path("layer_norm_eps").asDouble(1e-6), a.path("layer_norm_eps").asDouble(1e-6), mel, modelPatch);
    }

    // vision and audio in one file: gguf-py's name map spans 128 blocks
    @Override public int nameBlocks() { return 128; }

    @Override
    public String filter(String hfName) {
        return hfName.contains("language_model.") ? null : hfName;
    }

    private static boolean isAudio(String name) {
        return name.contains("audio_tower") || name.contains("embed_audio");
    }

    @Override
    public Converted convert(SafetensorsCheckpoint.Entry entry, String name, ClipTensorNames names) throws FormatException {
        long[] shape = entry.tensor().shape();
        TensorRecipe recipe = new CheckpointTensor(entry, -1, false);
        if (unified) {
            if (name.endsWith("pos_embedding")) {
                name += ".weight";
                recipe = swapFirstTwo(entry, shape);
            } else if (name.contains(".pos_norm.")) {
                name = name.replace(".pos_norm.", ".patch_ln3.");
            } else if (name.contains("patch_dense.weight")) {
                recipe = chwColumns(entry, shape, 2);
            } else if (name.contains("patch_ln1.weight") || name.contains("patch_ln1.bias")) {
                recipe = chwColumns(entry, shape, 1);
            }
        }
        if (isAudio(name)) {
            name = name.replace("model.audio_tower.", "conformer.").replace(".linear.", ".");
            if (name.endsWith("per_dim_key_scale") || name.endsWith("per_dim_scale")) {
                name += ".weight";
                recipe = RearrangedTensor.mapped(new CheckpointTensor(entry, -1, false), Gemma4Projector::softplus, "softplus");
            }
            if (name.contains("lconv1d.depthwise_conv1d") && name.endsWith(".weight")) {
                if (shape.length != 3 || shape[1] != 1) throw new FormatException(entry.file().path(), "tensor '" + entry.name() + "' has shape "
                        + java.util.Arrays.toString(shape) + "; a depthwise conv weight is [channels, 1, kernel]");
                recipe = new CheckpointTensor(entry, new long[] {shape[2], shape[0]});
            }
        } else {
            name = name.replace("model.vision_tower.encoder.", "vision_model.model.").replace(".linear.weight", ".weight");
            if (name.endsWith("layer_scalar") || name.endsWith("position_embedding_table")) name += ".weight";
            if (name.endsWith("patch_embedder.input_proj.weight")) recipe = chwPatches(entry, shape);
        }
        String n = name;
        String gguf = names.map(name, SUFFIXES).map(ClipTensorNames.Mapped::ggufName)
                .orElseThrow(() -> new FormatException(entry.file().path(), "tensor '" + entry.name() + "' (as " + n + ") has no mmproj GGUF name"
                        + " (convert_hf_to_gguf.py cannot map it either)"));
        return new Converted(gguf, recipe);
    }

    /**
     * torch.nn.functional.softplus in float32 (beta 1, threshold 20) as torch's vectorized CPU kernel computes it:
     * {@code blend(exp(x).log1p(), x, x > 20)} with SLEEF's 1-ulp exp and log1p (two float roundings, not one).
     * The correctly rounded Math.exp/Math.log1p differ from them in the last bit for some inputs (3 of the 64 values
     * of gemma4-mm-tiny's audio per_dim_scale), so {@link SleefFloat} reproduces SLEEF's own arithmetic.
     */
    static float softplus(float x) {
        if (x > 20f) return x;
        return SleefFloat.log1p(SleefFloat.exp(x));
    }

    /** {@code [n_embd, p*p*3]} with pixels in HWC order to {@code [n_embd, 3, p, p]} (reshape to (n, p, p, 3), permute (0, 3, 1, 2)). */
    private static TensorRecipe chwPatches(SafetensorsCheckpoint.Entry entry, long[] shape) throws FormatException {
        if (shape.length != 2) throw new FormatException(entry.file().path(), "tensor '" + entry.name() + "' is not 2-D");
        int k = Math.toIntExact(shape[1]);
        int p = (int) Math.sqrt(k / 3.0);
        if (3 * p * p != k) throw new FormatException(entry.file().path(), "tensor '" + entry.name() + "' has " + k + " columns, not 3 x a square patch");
        long[] ne = {p, p, 3, shape[0]};
        return new RearrangedTensor(new CheckpointTensor(entry, -1, false), ne, new RearrangedTensor.Layout() {
            @Override public long sourceRow(long row) { return row / (3L * p); }

            @Override
            public int sourceColumn(long row, int x) {
                int c = (int) (row / p % 3);
                int y = (int) (row % p);
                return (y * p + x) * 3 + c;
            }
        }, null, "reshape [n, p, p, 3], permute to [n, 3, p, p]");
    }

    /** Unified: the position table {@code [P, 2, D]} as {@code [2, P, D]} (permute (1, 0, 2)). */
    private static TensorRecipe swapFirstTwo(SafetensorsCheckpoint.Entry entry, long[] shape) throws FormatException {
        if (shape.length != 3) throw new FormatException(entry.file().path(), "tensor '" + entry.name() + "' is not 3-D");
        long p = shape[0];
        long two = shape[1];
        return new RearrangedTensor(new CheckpointTensor(entry, -1, false), new long[] {shape[2], p, two}, new RearrangedTensor.Layout() {
            @Override public long sourceRow(long row) { return (row % p) * two + row / p; }

            @Override public int sourceColumn(long row, int column) { return column; }
        }, null, "permute (1, 0, 2)");
    }

    /** Unified: columns (rank 2) or values (rank 1) from HWC to CHW order: position i takes HWC index row*p*3 + col*3 + ch. */
    private TensorRecipe chwColumns(SafetensorsCheckpoint.Entry entry, long[] shape, int rank) throws FormatException {
        int p = modelPatch;
        long n = shape.length == 0 ? 1 : shape[shape.length - 1];
        if (shape.length != rank || n != 3L * p * p) {
            throw new FormatException(entry.file().path(), "tensor '" + entry.name() + "' has shape " + java.util.Arrays.toString(shape)
                    + " but a model patch of " + p + " x " + p + " pixels has " + 3 * p * p + " values");
        }
        int[] perm = new int[3 * p * p];
        for (int i = 0; i < perm.length; i++) {
            int ch = i / (p * p);
            int row = (i % (p * p)) / p;
            int col = i % p;
            perm[i] = row * p * 3 + col * 3 + ch;
        }
        CheckpointTensor src = new CheckpointTensor(entry, -1, false);
        return new RearrangedTensor(src, src.ne(), new RearrangedTensor.Layout() {
            @Override public long sourceRow(long row) { return row; }

            @Override public int sourceColumn(long row, int column) { return perm[column]; }
        }, null, "pixels HWC to CHW");
    }

    @Override
    public Optional<GgmlType> forcedType(String name, String ggufName, FileType outType) {
        if (isAudio(name) && (name.contains(".conv") || name.contains("_conv") && name.contains(".weight"))) return Optional.of(GgmlType.F32);
        if (name.contains("position_embedding_table")) return Optional.of(GgmlType.F32);
        return MmprojPlanner.patchEmbeddingType(ggufName, outType);
    }

    @Override public Encoder vision() { return vision; }

    @Override public Encoder audio() { return audio; }

    @Override
    public void writeKeys(GgufMetadata md) {
        // the unified class writes its own projector types over these, in the same places
        md.put(ClipVision.PROJECTOR_TYPE, GgufValue.string(unified ? "gemma4uv" : "gemma4v"));
        md.put(ClipVision.LAYERNORM_EPS, GgufValue.f32((float) visionEps));
        if (audio != null) {
            md.put(ClipAudio.PROJECTOR_TYPE, GgufValue.string(unified ? "gemma4ua" : "gemma4a"));
            md.put(ClipAudio.NUM_MEL_BINS, GgufValue.u32(melBins));
            md.put(ClipAudio.LAYERNORM_EPS, GgufValue.f32((float) audioEps));
        }
    }
}
