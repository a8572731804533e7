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
 * expert count ({@code <arch>.expert_count}; 8 experts promote attn_v/attn_k to Q8_0) and whether llama.cpp classes
 * the model as LLaMA-2 70B (attn_v Q4_K becomes Q5_K). Deliberately not {@link dev.requant.formats.model.GemmaConfig}:
 * llama-quantize reads these few keys of any architecture (llama, falcon, ...), and the full Gemma reader would refuse
 * files llama-quantize accepts.
 */
public record ModelFacts(String arch, int nLayer, int nExpert, boolean is70B) {
    public static final String FALCON = "falcon";
    public static final String BAILINGMOE3 = "bailingmoe3";

    public static ModelFacts of(GgufFile f) throws FormatException {
        return of(f.metadata(), f.path());
    }

    public static ModelFacts of(GgufMetadata m, Path file) throws FormatException {
        String arch = m.architecture().orElseThrow(() -> new FormatException(file,
                "no general.architecture: not a llama.cpp model file (llama-quantize cannot load it either)"));
        String blockCount = LLM.blockCount(arch);
        long layers = m.getLong(blockCount).orElseThrow(() -> new FormatException(file,
                "no " + blockCount + ": llama-quantize needs the layer count for its type rules"));
        if (layers <= 0 || layers > 512) throw new FormatException(file, blockCount + " is " + layers + " (llama.cpp allows 1..512)");
        int experts = (int) (long) m.getLong(LLM.expertCount(arch)).orElse(0L);
        // llama_model_loader's llama arch: 80 layers with grouped-query attention is LLM_TYPE_70B (65B has n_head == n_head_kv).
        boolean is70B = arch.equals("llama") && layers == 80
                && firstInt(m, Attention.headCount(arch)).orElse(0L) != firstInt(m, Attention.headCountKv(arch))
                        .orElse(firstInt(m, Attention.headCount(arch)).orElse(0L));
        return new ModelFacts(arch, (int) layers, Math.max(experts, 0), is70B);
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
