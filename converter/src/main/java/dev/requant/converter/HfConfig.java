package dev.requant.converter;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.JsonNodeFactory;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.requant.formats.FormatException;
import dev.requant.formats.io.JsonFile;
import dev.requant.formats.model.GemmaArch;
import dev.requant.formats.io.ModelFolder;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.Iterator;
import java.util.Map;
import java.util.Set;

/**
 * The hyperparameters of a Gemma 3 / Gemma 4 text model as convert_hf_to_gguf.py sees them: config.json with
 * {@code text_config} merged over the root, the transformers class defaults filled in (the Python converter reads
 * configs through AutoConfig, so sparse released configs and full transformers-5 configs give the same result), the
 * rope parameters normalised (conversion/base.py TextModel.__init__), and the per-layer values (head dims, KV heads,
 * feed-forward widths, sliding/full pattern) resolved from {@code layer_types}, {@code per_layer_config},
 * {@code global_head_dim} and friends. Anything unknown or contradictory is a {@link FormatException} naming
 * config.json. GemmaMetadata writes these values as GGUF keys; {@link dev.requant.formats.model.GemmaConfig} is the
 * same model as llama.cpp's loader reads those keys back.
 */
public final class HfConfig {

    private final Path file;
    private final GemmaArch.HfClass hfClass;
    private final ObjectNode hp; // merged root + text_config
    private final int blockCount;
    private final long contextLength;
    private final int embeddingLength;
    private final int headCount;
    private final int vocabSize;
    private final float rmsEps;
    private final boolean[] sliding;
    private final int[] headDim;       // per layer
    private final int[] kvHeads;       // per layer
    private final int[] feedForward;   // per layer
    private final boolean kvArray;
    private final boolean ffArray;
    private final int headDimSwa;
    private final int headDimFull;
    private final Integer slidingWindow;
    private final Double finalLogitSoftcap;
    private final Rope rope;
    // Gemma 4
    private final int sharedKvLayers;
    private final Integer perLayerInputWidth; // null = not given (derive from the weights)
    private final boolean kEqV;
    private final Integer expertCount, expertUsedCount, expertFeedForward;
    private final boolean moe;

    /**
     * The rope settings after base.py's normalisation: the global ("full_attention") parameters, the sliding theta,
     * and the top-level partial_rotary_factor Gemma 4 uses for the sliding layers' rotary dims.
     */
    public record Rope(String fullType, Double factor, double thetaFull, Double thetaSwa, double partialRotaryFull, double partialRotaryTopLevel) {}

    private HfConfig(Path file, GemmaArch.HfClass hfClass, ObjectNode hp, boolean textModel) throws FormatException {
        this.file = file;
        this.hfClass = hfClass;
        this.hp = hp;
        boolean g4 = hfClass.arch() == GemmaArch.GEMMA4;
        applyDefaults(g4, hfClass.unified());

        blockCount = positiveInt(firstKey("n_layers", "num_hidden_layers", "n_layer", "num_layers"));
        contextLength = positiveLong("max_position_embeddings");
        if (contextLength > 0xFFFF_FFFFL) throw error("max_position_embeddings " + contextLength + " does not fit the UINT32 GGUF stores it in");
        embeddingLength = positiveInt("hidden_size");
        headCount = positiveInt("num_attention_heads");
        vocabSize = positiveInt("vocab_size");
        rmsEps = positiveFloat(hp.get("rms_norm_eps"), "rms_norm_eps");
        String act = hp.path("hidden_activation").asText("gelu_pytorch_tanh");
        if (hp.has("hidden_activation") && !hp.get("hidden_activation").isNull() && !act.equals("gelu_pytorch_tanh")) {
            throw error("hidden_activation is '" + act + "'; llama.cpp's Gemma graph only has gelu_pytorch_tanh");
        }
        if (!hp.path("attn_logit_softcapping").isNull() && hp.has("attn_logit_softcapping")) {
            throw error("attn_logit_softcapping is " + hp.get("attn_logit_softcapping") + "; Gemma 3/4 have none (convert_hf_to_gguf asserts it is null)");
        }
        finalLogitSoftcap = optionalNumber("final_logit_softcapping");
        if (finalLogitSoftcap != null && !(finalLogitSoftcap >= 0 && Float.isFinite(finalLogitSoftcap.floatValue()))) {
            throw error("final_logit_softcapping must be null or a non-negative float32, is " + hp.get("final_logit_softcapping"));
        }
        sliding = layerTypes(g4, textModel);
        rope = rope(g4);

        int headDimBase = positiveInt("head_dim");
        int kvBase = positiveInt("num_key_value_heads");
        int ffBase = positiveInt("intermediate_size");
        Integer globalHeadDim = g4 ? optionalPositiveInt("global_head_dim") : null;
        Integer kvGlobal = g4 ? optionalPositiveInt("num_global_key_value_heads") : null;
        kEqV = g4 && hp.path("attention_k_eq_v").asBoolean(false);
        sharedKvLayers = g4 ? nonNegativeInt("num_kv_shared_layers") : 0;
        if (sharedKvLayers >= blockCount) throw error("num_kv_shared_layers " + sharedKvLayers + " must be below num_hidden_layers " + blockCount);
        boolean doubleWide = g4 && hp.path("use_double_wide_mlp").asBoolean(false);

        headDim = new int[blockCount];
        kvHeads = new int[blockCount];
        feedForward = new int[blockCount];
        Map<Integer, JsonNode> perLayer = perLayerConfig();
        int firstShared = blockCount - sharedKvLayers;
        for (int i = 0; i < blockCount; i++) {
            boolean full = !sliding[i];
            headDim[i] = full && g4 ? (globalHeadDim != null ? globalHeadDim : 512) : headDimBase;
            kvHeads[i] = full && kvGlobal != null ? kvGlobal : kvBase;
            feedForward[i] = doubleWide && i >= firstShared ? 2 * ffBase : ffBase;
            JsonNode o = perLayer.get(i);
            if (o != null) {
                if (o.has("head_dim")) {
                    int v = intIn(o, "head_dim", "per_layer_config." + i + ".head_dim");
                    if (full && g4 && globalHeadDim != null && v != globalHeadDim) {
                        throw error("per_layer_config." + i + ".head_dim is " + v + " but global_head_dim is " + globalHeadDim);
                    }
                    headDim[i] = v;
                }
                if (o.has("num_key_value_heads")) kvHeads[i] = intIn(o, "num_key_value_heads", "per_layer_config." + i + ".num_key_value_heads");
                if (o.has("intermediate_size")) feedForward[i] = intIn(o, "intermediate_size", "per_layer_config." + i + ".intermediate_size");
            }
        }
        headDimSwa = uniform(false, "sliding");
        headDimFull = uniform(true, "full");
        if (!g4 && headDimSwa != headDimFull && headDimSwa > 0 && headDimFull > 0) {
            throw error("Gemma 3 layers must share one head_dim (llama.cpp's gemma3 has one key_length), found " + headDimSwa + " and " + headDimFull);
        }
        kvArray = (g4 && kvGlobal != null) || !allEqual(kvHeads);
        ffArray = doubleWide || !allEqual(feedForward);

        Object pattern = hp.has("sliding_window_pattern") ? hp.get("sliding_window_pattern") : null;
        boolean patternOne = pattern instanceof JsonNode n && n.isNumber() && n.asDouble() == 1;
        slidingWindow = patternOne ? null : positiveInt("sliding_window");

        if (g4) {
            JsonNode ple = hp.get("hidden_size_per_layer_input");
            perLayerInputWidth = ple == null ? null : ple.isNull() ? 0 : nonNegativeInt("hidden_size_per_layer_input");
            expertCount = firstOptionalInt("num_local_experts", "num_experts");
            expertUsedCount = firstOptionalInt("num_experts_per_tok", "num_experts_per_token", "top_k_experts");
            expertFeedForward = firstOptionalInt("expert_intermediate_size", "moe_intermediate_size");
            moe = hp.path("enable_moe_block").asBoolean(false);
            if (moe && (expertCount == null || expertUsedCount == null || expertFeedForward == null)) {
                throw error("enable_moe_block is true but num_experts, top_k_experts and moe_intermediate_size are not all set");
            }
            if (!"proportional".equals(rope.fullType())) {
                throw error("rope_parameters.full_attention.rope_type is '" + rope.fullType() + "'; Gemma 4 conversion needs 'proportional'");
            }
        } else {
            perLayerInputWidth = 0;
            expertCount = expertUsedCount = expertFeedForward = null;
            moe = false;
        }
    }

    /** Reads config.json in a folder, for converting its text model. */
    public static HfConfig read(Path dir) throws IOException {
        return read(dir, true);
    }

    /**
     * Reads config.json for converting the multimodal projector only: convert_hf_to_gguf.py --mmproj takes nothing from
     * the text config but hidden_size, so llama.cpp's fixed gemma3 sliding/full pattern, which only the text GGUF must
     * follow, is not asked of layer_types here (they must still name a type per layer).
     */
    static HfConfig readForProjector(Path dir) throws IOException {
        return read(dir, false);
    }

    private static HfConfig read(Path dir, boolean textModel) throws IOException {
        Path file = dir.resolve("config.json");
        if (!Files.exists(file)) throw new NoSuchFileException(file.toString(), null, "no config.json in the model folder");
        ModelFolder.checkLinks(dir);
        JsonNode root = JsonFile.read(file);
        if (root == null || !root.isObject()) throw new FormatException(file, "is not a JSON object");
        String arch = hfArchitecture(file, root);
        GemmaArch.HfClass cls = GemmaArch.byHfClass(arch).orElseThrow(() -> new FormatException(file,
                "architecture '" + arch + "' is not supported (supported: " + GemmaArch.supportedClasses() + ")"));
        ObjectNode hp = ((ObjectNode) root).deepCopy();
        JsonNode text = root.get("text_config");
        if (text != null && text.isObject()) hp.setAll((ObjectNode) text.deepCopy());
        return new HfConfig(file, cls, hp, textModel);
    }

    /** conversion/base.py get_model_architecture: architectures[0], or text_config.architectures[0]. */
    private static String hfArchitecture(Path file, JsonNode root) throws FormatException {
        JsonNode a = root.path("text_config").path("architectures");
        if (!a.isArray() || a.isEmpty()) a = root.path("architectures");
        if (!a.isArray() || a.isEmpty() || !a.get(0).isTextual()) {
            throw new FormatException(file, "has no \"architectures\" list naming the model class");
        }
        return a.get(0).asText();
    }

    /** The transformers class defaults (Gemma3TextConfig, Gemma4TextConfig, Gemma4UnifiedTextConfig). */
    private void applyDefaults(boolean g4, boolean unified) {
        if (!g4) {
            def("vocab_size", 262208);
            def("hidden_size", 2304);
            def("intermediate_size", 9216);
            def("num_hidden_layers", 26);
            def("num_attention_heads", 8);
            def("num_key_value_heads", 4);
            def("head_dim", 256);
            def("max_position_embeddings", 131072);
            defD("rms_norm_eps", 1e-6);
            defD("rope_theta", 1_000_000.0);
            defD("rope_local_base_freq", 10_000.0);
            def("sliding_window", 4096);
        } else {
            def("vocab_size", 262144);
            def("hidden_size", 2304);
            def("intermediate_size", 9216);
            def("num_hidden_layers", 30);
            def("num_attention_heads", 8);
            def("num_key_value_heads", 4);
            def("head_dim", 256);
            def("num_kv_shared_layers", 0);
            def("max_position_embeddings", unified ? 262144 : 131072);
            defD("rms_norm_eps", 1e-6);
            def("sliding_window", unified ? 1024 : 512);
            if (!unified) def("vocab_size_per_layer_input", 262144);
            if (!hp.has("rope_parameters") || hp.get("rope_parameters").isNull()) {
                ObjectNode r = hp.putObject("rope_parameters");
                r.putObject("sliding_attention").put("rope_type", "default").put("rope_theta", 10000.0);
                r.putObject("full_attention").put("rope_type", "proportional").put("partial_rotary_factor", 0.25).put("rope_theta", 1_000_000.0);
            }
        }
    }

    private void def(String key, int v) { if (!hp.has(key) || hp.get(key).isNull()) hp.put(key, v); }

    private void defD(String key, double v) { if (!hp.has(key) || hp.get(key).isNull()) hp.put(key, v); }

    /**
     * layer_types, or the default pattern: sliding unless (i+1) % 6 == 0 (Gemma 4 also forces the last layer full). A
     * Gemma 3 text model must follow the default pattern: llama.cpp's gemma3 has no key for it.
     */
    private boolean[] layerTypes(boolean g4, boolean textModel) throws FormatException {
        boolean[] s = new boolean[blockCount];
        JsonNode lt = hp.get("layer_types");
        if (lt == null || lt.isNull()) {
            for (int i = 0; i < blockCount; i++) s[i] = (i + 1) % 6 != 0;
            if (g4) s[blockCount - 1] = false;
            return s;
        }
        if (!lt.isArray() || lt.size() != blockCount) {
            throw error("layer_types must list " + blockCount + " layer types (num_hidden_layers), it has " + (lt.isArray() ? lt.size() : 0));
        }
        for (int i = 0; i < blockCount; i++) {
            String t = lt.get(i).asText("");
            switch (t) {
                case "sliding_attention" -> s[i] = true;
                case "full_attention" -> s[i] = false;
                default -> throw error("layer_types[" + i + "] is '" + lt.get(i) + "', expected sliding_attention or full_attention");
            }
        }
        if (!g4 && textModel) {
            for (int i = 0; i < blockCount; i++) {
                if (s[i] != (i % 6 < 5)) {
                    throw error("layer_types[" + i + "] is " + (s[i] ? "sliding" : "full") + "_attention, but llama.cpp's gemma3 runs every 6th layer as full attention and the rest sliding");
                }
            }
        }
        return s;
    }

    /** conversion/base.py TextModel.__init__ rope normalisation, then the Gemma 3 / Gemma 4 readings of it. */
    private Rope rope(boolean g4) throws FormatException {
        JsonNode r = hp.get("rope_parameters");
        if (r == null || r.isNull()) r = hp.get("rope_scaling");
        ObjectNode rope = r != null && r.isObject() ? ((ObjectNode) r).deepCopy() : JsonNodeFactory.instance.objectNode();
        if (r != null && !r.isNull() && !r.isObject()) throw error("rope_parameters / rope_scaling must be an object, is " + r);
        if (!rope.has("full_attention") && !rope.has("sliding_attention")) {
            JsonNode local = firstPresent("local_rope_theta", "rope_local_theta", "rope_theta_local", "swa_rope_theta", "rope_local_base_freq");
            if (local != null) rope.putObject("sliding_attention").set("rope_theta", local);
            JsonNode theta = firstPresent("global_rope_theta", "rope_global_theta", "rope_theta_global", "rope_theta", "rotary_emb_base");
            if (!rope.has("rope_theta") && theta != null) rope.set("rope_theta", theta);
            if (!rope.has("rope_type") && rope.has("type")) rope.set("rope_type", rope.get("type"));
        }
        JsonNode full = rope.has("full_attention") ? rope.get("full_attention") : rope;
        if (!full.isObject()) throw error("rope_parameters.full_attention must be an object, is " + full);
        if (rope.has("sliding_attention") && !rope.get("sliding_attention").isObject() && !rope.get("sliding_attention").isNull()) {
            throw error("rope_parameters.sliding_attention must be an object, is " + rope.get("sliding_attention"));
        }
        JsonNode rt = full.get("rope_type");
        if (rt != null && !rt.isNull() && !rt.isTextual()) throw error("rope type must be a string, is " + rt);
        String type = rt != null && rt.isTextual() ? rt.asText() : null;
        if (type != null && !Set.of("default", "linear", "proportional").contains(type)) {
            throw error("rope type '" + type + "' is not one Gemma uses (default, linear, proportional)");
        }
        // Every value that goes into the GGUF must be a finite, positive float32: a string here used to be dropped
        // silently (the default took its place), and -1 or 1e400 (Infinity) went into the file.
        Double factor = optionalPositiveFloat(full.get("factor"), "rope factor");
        Double ft = optionalPositiveFloat(full.get("rope_theta"), "rope_theta");
        double thetaFull = ft != null ? ft : 1_000_000.0;
        Double thetaSwa = optionalPositiveFloat(rope.path("sliding_attention").get("rope_theta"), "sliding_attention rope_theta");
        Double prfFull = optionalPositiveFloat(full.get("partial_rotary_factor"), "partial_rotary_factor");
        Double prfRoot = optionalPositiveFloat(rope.get("partial_rotary_factor"), "partial_rotary_factor");
        double prf = prfFull != null ? prfFull : 1.0;
        double prfTop = prfRoot != null ? prfRoot : 1.0;
        if (g4 && !(prf > 0 && prf <= 1)) throw error("rope_parameters.full_attention.partial_rotary_factor " + prf + " must be in (0, 1]");
        return new Rope(type, factor, thetaFull, thetaSwa, prf, prfTop);
    }

    private Map<Integer, JsonNode> perLayerConfig() throws FormatException {
        JsonNode p = hp.get("per_layer_config");
        Map<Integer, JsonNode> m = new java.util.TreeMap<>();
        if (p == null || p.isNull()) return m;
        if (!p.isObject()) throw error("per_layer_config must be an object of layer index to overrides");
        for (var e : p.properties()) {
            int layer;
            try {
                layer = Integer.parseInt(e.getKey());
            } catch (NumberFormatException ex) {
                throw error("per_layer_config key '" + e.getKey() + "' is not a layer index");
            }
            if (layer < 0 || layer >= blockCount) throw error("per_layer_config names layer " + layer + ", but the model has " + blockCount + " layers");
            if (!e.getValue().isObject()) throw error("per_layer_config." + layer + " must be an object");
            for (Iterator<String> it = e.getValue().fieldNames(); it.hasNext(); ) {
                String k = it.next();
                if (!Set.of("head_dim", "num_key_value_heads", "intermediate_size").contains(k)) {
                    throw error("per_layer_config." + layer + "." + k + " is not supported (supported: head_dim, num_key_value_heads, intermediate_size)");
                }
            }
            m.put(layer, e.getValue());
        }
        return m;
    }

    private int uniform(boolean full, String what) throws FormatException {
        int v = -1;
        for (int i = 0; i < blockCount; i++) {
            if (sliding[i] == full) continue;
            if (v < 0) v = headDim[i];
            else if (headDim[i] != v) {
                throw error("the " + what + "-attention layers have different head dims (" + v + " and " + headDim[i] + " at layer " + i
                        + "); llama.cpp has one key_length per layer kind");
            }
        }
        return v < 0 ? (full ? headDimSwa() : headDim[0]) : v;
    }

    private static boolean allEqual(int[] a) {
        for (int x : a) if (x != a[0]) return false;
        return true;
    }

    // ---- value readers, each failing with the key's name

    FormatException error(String problem) {
        return new FormatException(file, problem);
    }

    private String firstKey(String... keys) throws FormatException {
        for (String k : keys) if (hp.has(k)) return k;
        throw error("has none of " + String.join(", ", keys));
    }

    private JsonNode firstPresent(String... keys) {
        for (String k : keys) if (hp.has(k) && !hp.get(k).isNull()) return hp.get(k);
        return null;
    }

    private Integer firstOptionalInt(String... keys) throws FormatException {
        for (String k : keys) {
            if (hp.has(k)) return hp.get(k).isNull() ? null : positiveInt(k); // find_hparam stops at the first key present
        }
        return null;
    }

    private int positiveInt(String key) throws FormatException {
        long v = positiveLong(key);
        if (v > Integer.MAX_VALUE) throw error(key + " " + v + " is too large");
        return (int) v;
    }

    private long positiveLong(String key) throws FormatException {
        JsonNode n = hp.get(key);
        if (n == null || n.isNull()) throw error("has no " + key);
        if (!n.isIntegralNumber() || n.asLong() <= 0) throw error(key + " must be a positive integer, is " + n);
        return n.asLong();
    }

    private int nonNegativeInt(String key) throws FormatException {
        JsonNode n = hp.get(key);
        if (n == null || n.isNull()) return 0;
        if (!n.isIntegralNumber() || n.asLong() < 0 || n.asLong() > Integer.MAX_VALUE) throw error(key + " must be a non-negative integer, is " + n);
        return n.asInt();
    }

    private Integer optionalPositiveInt(String key) throws FormatException {
        JsonNode n = hp.get(key);
        return n == null || n.isNull() ? null : positiveInt(key);
    }

    private int intIn(JsonNode o, String k, String name) throws FormatException {
        JsonNode n = o.get(k);
        if (n == null || !n.isIntegralNumber() || n.asLong() <= 0 || n.asLong() > Integer.MAX_VALUE) throw error(name + " must be a positive integer, is " + n);
        return n.asInt();
    }

    private Double optionalNumber(String key) throws FormatException {
        JsonNode n = hp.get(key);
        if (n == null || n.isNull()) return null;
        if (!n.isNumber()) throw error(key + " must be a number or null, is " + n);
        return n.asDouble();
    }

    /** A value that goes into the GGUF as a float32 and must be positive: finite and above 0 once rounded to float. */
    private float positiveFloat(JsonNode n, String name) throws FormatException {
        Double v = optionalPositiveFloat(n, name);
        if (v == null) throw error("has no " + name);
        return v.floatValue();
    }

    private Double optionalPositiveFloat(JsonNode n, String name) throws FormatException {
        if (n == null || n.isNull()) return null;
        if (!n.isNumber()) throw error(name + " must be a number, is " + n);
        double v = n.asDouble();
        float f = (float) v;
        if (!(v > 0) || !Float.isFinite(f) || f == 0) {
            throw error(name + " is " + n + "; it must be a positive number that a float32 holds (GGUF stores it as one)");
        }
        return v;
    }

    // ---- accessors

    public Path file() { return file; }

    public Path dir() { return file.getParent(); }

    public GemmaArch arch() { return hfClass.arch(); }

    public String hfClass() { return hfClass.name(); }

    public boolean unified() { return hfClass.unified(); }

    /** The merged hyperparameters (root + text_config + defaults), for keys this class does not model. */
    public JsonNode hparams() { return hp; }

    public int blockCount() { return blockCount; }
    public long contextLength() { return contextLength; }
    public int embeddingLength() { return embeddingLength; }
    public int headCount() { return headCount; }
    public int vocabSize() { return vocabSize; }
    public float rmsEps() { return rmsEps; }
    public Double finalLogitSoftcap() { return finalLogitSoftcap; }
    public Rope rope() { return rope; }
    /** Null when sliding_window_pattern is 1 (no sliding window written). */
    public Integer slidingWindow() { return slidingWindow; }

    public boolean isSliding(int layer) { return sliding[layer]; }
    public boolean[] slidingLayers() { return sliding.clone(); }
    public int headDim(int layer) { return headDim[layer]; }
    public int kvHeads(int layer) { return kvHeads[layer]; }
    public int feedForward(int layer) { return feedForward[layer]; }
    public int[] kvHeads() { return kvHeads.clone(); }
    public int[] feedForward() { return feedForward.clone(); }
    /** Whether head_count_kv is written per layer (INT32 array) rather than as one UINT32. */
    public boolean kvHeadsPerLayer() { return kvArray; }
    public boolean feedForwardPerLayer() { return ffArray; }
    /** Head dim of sliding layers (Gemma 3: of all layers). */
    public int headDimSwa() { return headDimSwa; }
    /** Head dim of full-attention layers (Gemma 4's global_head_dim). */
    public int headDimFull() { return headDimFull; }

    public int sharedKvLayers() { return sharedKvLayers; }
    public boolean hasKv(int layer) { return layer < blockCount - sharedKvLayers; }
    public boolean kEqV() { return kEqV; }
    /** hidden_size_per_layer_input as given (0 when null), or null when the key is absent. */
    public Integer perLayerInputWidth() { return perLayerInputWidth; }
    public Integer vocabSizePerLayerInput() {
        JsonNode n = hp.get("vocab_size_per_layer_input");
        return n != null && n.isIntegralNumber() ? n.asInt() : null;
    }
    public boolean moe() { return moe; }
    public Integer expertCount() { return expertCount; }
    public Integer expertUsedCount() { return expertUsedCount; }
    public Integer expertFeedForward() { return expertFeedForward; }

    @Override
    public String toString() {
        return hfClass.name() + " " + blockCount + " layers, hidden " + embeddingLength + ", heads " + headCount + ", kv "
                + Arrays.toString(kvHeads) + ", head dims " + headDimSwa + "/" + headDimFull;
    }
}
