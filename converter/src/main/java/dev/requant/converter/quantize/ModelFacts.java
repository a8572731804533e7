package dev.requant.converter.quantize;

import dev.requant.formats.FormatException;
import dev.requant.formats.gguf.GgufArray;
import dev.requant.formats.gguf.GgufFile;
import dev.requant.formats.gguf.GgufKeys.Attention;
import dev.requant.formats.gguf.GgufKeys.LLM;
import dev.requant.formats.gguf.GgufMetadata;
import dev.requant.formats.gguf.GgufValue;
import dev.requant.formats.gguf.GgufValueType;
import java.nio.file.Path;
import java.util.Optional;

/**
 * The hyperparameters llama-quantize's type rules look at (llama_tensor_get_type_impl): the architecture (Falcon and
 * BailingMoE3 have their own rules), the layer count ({@code n_layer_all}, i.e. {@code <arch>.block_count}), the
 * expert count ({@code <arch>.expert_count}; 8 experts promote attn_v/attn_k to Q8_0), the grouped-query factor
 * ({@code n_gqa()}: n_head / n_head_kv of layer 0; from 4 up the low-bit types give attn_v more bits) and whether llama.cpp classes
 * the model as LLaMA-2 70B (attn_v Q4_K becomes Q5_K). Deliberately not {@link dev.requant.formats.model.GemmaConfig}:
 * llama-quantize reads these few keys of any architecture (llama, falcon, ...), and the full Gemma reader would refuse
 * files llama-quantize accepts.
 */
public record ModelFacts(String arch, int nLayer, int nExpert, boolean is70B, int nGqa) {
    public static final String FALCON = "falcon";

    /** A model without grouped-query attention (n_gqa 1). */
    public ModelFacts(String arch, int nLayer, int nExpert, boolean is70B) {
        this(arch, nLayer, nExpert, is70B, 1);
    }
    public static final String BAILINGMOE3 = "bailingmoe3";

    public static ModelFacts of(GgufFile f) throws FormatException {
        return of(f.metadata(), f.path());
    }

    public static ModelFacts of(GgufMetadata m, Path file) throws FormatException {
        return of(m, file, java.util.List.of());
    }

    /**
     * The facts as llama-quantize's model loader reads them with {@code --override-kv}: an override of the right kind
     * replaces the file's value (the first one given for a key wins, as the loader keeps them in a std::map); the
     * per-layer head counts only where the file has the key as a scalar (get_key_or_arr reads arrays without them).
     */
    public static ModelFacts of(GgufMetadata m, Path file, java.util.List<KvOverride> overrides) throws FormatException {
        java.util.Map<String, KvOverride> ov = new java.util.HashMap<>();
        for (KvOverride o : overrides) ov.putIfAbsent(o.key(), o);
        KvOverride archOverride = ov.get(dev.requant.formats.gguf.GgufKeys.General.ARCHITECTURE);
        Optional<String> archRead = archOverride != null && archOverride.kind() == KvOverride.Kind.STR
                ? Optional.of((String) archOverride.value()) : m.architecture();
        String arch = archRead.orElseThrow(() -> new FormatException(file,
                "no general.architecture: not a llama.cpp model file (llama-quantize cannot load it either)"));
        String blockCount = LLM.blockCount(arch);
        long layers = uint32(ov, blockCount).or(() -> m.getLong(blockCount)).orElseThrow(() -> new FormatException(file,
                "no " + blockCount + ": llama-quantize needs the layer count for its type rules"));
        if (layers <= 0 || layers > 512) throw new FormatException(file, blockCount + " is " + layers + " (llama.cpp allows 1..512)");
        String expertCount = LLM.expertCount(arch);
        int experts = (int) (long) uint32(ov, expertCount).or(() -> m.getLong(expertCount)).orElse(0L);
        long nHead = headCount(m, ov, Attention.headCount(arch)).orElse(0L);
        long nHeadKv = headCount(m, ov, Attention.headCountKv(arch)).orElse(nHead); // n_head_kv defaults to n_head
        // llama_model_loader's llama arch: 80 layers with grouped-query attention is LLM_TYPE_70B (65B has n_head == n_head_kv).
        boolean is70B = arch.equals("llama") && layers == 80 && nHead != nHeadKv;
        // hparams.n_gqa(): n_head / n_head_kv of layer 0 (0 when n_head_kv is 0).
        int gqa = nHeadKv == 0 ? 0 : (int) (nHead / nHeadKv);
        return new ModelFacts(arch, (int) layers, Math.max(experts, 0), is70B, gqa);
    }

    /** An INT override of a uint32 hyperparameter as the loader stores it (truncated to 32 bits); other kinds are ignored. */
    private static Optional<Long> uint32(java.util.Map<String, KvOverride> ov, String key) {
        KvOverride o = ov.get(key);
        if (o == null || o.kind() != KvOverride.Kind.INT) return Optional.empty();
        return Optional.of((Long) o.value() & 0xFFFFFFFFL);
    }

    private static Optional<Long> headCount(GgufMetadata m, java.util.Map<String, KvOverride> ov, String key) {
        Optional<GgufValue> v = m.get(key);
        if (v.isPresent() && v.get().type() != GgufValueType.ARRAY) {
            Optional<Long> o = uint32(ov, key);
            if (o.isPresent()) return o;
        }
        return firstInt(m, key);
    }

    /** A scalar integer, or the first element of a per-layer integer array. */
    private static Optional<Long> firstInt(GgufMetadata m, String key) {
        Optional<GgufValue> v = m.get(key);
        if (v.isEmpty()) return Optional.empty();
        if (v.get().type().isInteger()) return Optional.of(v.get().asLong());
        if (v.get().type() == GgufValueType.ARRAY) {
            GgufArray a = v.get().asArray();
            if (a.length() > 0 && a.elementType().isInteger()) return Optional.of(((Number) a.get(0)).longValue());
        }
        return Optional.empty();
    }

    /** {@code max(1, n_expert)}, the value layer_info and the MoE rules use. */
    public int expertsAtLeastOne() { return Math.max(1, nExpert); }
}
