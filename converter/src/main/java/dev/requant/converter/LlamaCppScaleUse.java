package dev.requant.converter;

import dev.requant.formats.model.GemmaArch;
import java.util.Set;

/**
 * What llama.cpp does with the sidecar {@code <name>.scale} (NVFP4 per-tensor scale) of a weight, for the build this
 * project runs against (interop/: node-llama-cpp 3.22.1, llama.cpp of September 2026). Read from its source:
 * <ul>
 *   <li>llama-model.cpp's generic pass after load_arch_tensors creates optional {@code .scale}/{@code .input_scale}
 *       tensors only for attn_q/k/v/output/qkv/gate, ffn_gate/up/down (and shexp/exps), ssm_* and nextn, plus
 *       {@code output.scale} when the output weight is NVFP4. Any other {@code .scale} in a file is a tensor no one
 *       creates, and the loader stops: "wrong number of tensors".</li>
 *   <li>src/models/gemma3.cpp passes the attention scales (build_qkv, build_attn wo_s) and output_s, but calls
 *       build_ffn with NULL for up_s, gate_s and down_s: the FFN scales are loaded and never multiplied in. The
 *       FFN then runs with {@code W / scale}; for ModelOpt's scale ({@code amax/2688}, about 3e-5 for Gemma weights)
 *       GEGLU multiplies two outputs that are ~3e4 too large and the Q8_0 quantization of ffn_down's input overflows
 *       its FP16 block scale ({@code amax/127 > 65504}): NaN for every token.</li>
 *   <li>src/models/gemma4.cpp applies the attention, FFN, expert and output scales; per_layer_inp_gate,
 *       per_layer_proj and per_layer_model_proj have no scale tensor at all.</li>
 * </ul>
 */
public enum LlamaCppScaleUse {
    /** Loaded and multiplied into the matmul output ({@code ggml_mul} after {@code ggml_mul_mat}). */
    APPLIED,
    /** Loaded as an optional tensor, but the architecture's graph never multiplies it in. */
    LOADED_UNUSED,
    /** Not an optional tensor of this weight: a {@code .scale} in the file stops the loader. */
    NOT_LOADED;

    private static final Set<String> LOADED = Set.of("attn_q", "attn_k", "attn_v", "attn_output", "attn_qkv", "attn_gate",
            "ffn_gate", "ffn_up", "ffn_down", "ffn_gate_shexp", "ffn_up_shexp", "ffn_down_shexp", "ffn_gate_exps", "ffn_up_exps",
            "ffn_down_exps", "ssm_in", "ssm_out", "ssm_alpha", "ssm_beta");

    /**
     * @param arch general.architecture ("gemma3", "gemma4")
     * @param ggufWeight the weight's GGUF name, e.g. {@code blk.3.ffn_up.weight}
     */
    public static LlamaCppScaleUse of(String arch, String ggufWeight) {
        String kind = kind(ggufWeight);
        if (kind.equals("output")) return APPLIED;
        if (!LOADED.contains(kind)) return NOT_LOADED;
        if (GemmaArch.GEMMA3.ggufName().equals(arch) && kind.startsWith("ffn_")) return LOADED_UNUSED;
        return APPLIED;
    }

    /**
     * Whether a factor on this weight's output is removed downstream anyway, so a dropped scale changes nothing but
     * the magnitude of intermediate values: Gemma 3's FFN output goes through ffn_post_norm (RMSNorm, invariant to a
     * factor up to its epsilon), and GEGLU is linear in the up projection. The gate projection is not (GELU).
     */
    public static boolean factorNormalizedAway(String arch, String ggufWeight) {
        String kind = kind(ggufWeight);
        return GemmaArch.GEMMA3.ggufName().equals(arch) && (kind.equals("ffn_up") || kind.equals("ffn_down"));
    }

    /** Whether a {@code .scale} tensor may be written for this weight. */
    public boolean loaded() { return this != NOT_LOADED; }

    /** "blk.3.ffn_up.weight" gives "ffn_up"; "output.weight" gives "output". */
    static String kind(String ggufWeight) {
        if (ggufWeight.endsWith("]") && ggufWeight.contains("[")) ggufWeight = ggufWeight.substring(0, ggufWeight.lastIndexOf('[')); // one expert
        String n = ggufWeight.endsWith(".weight") ? ggufWeight.substring(0, ggufWeight.length() - ".weight".length()) : ggufWeight;
        if (n.startsWith("blk.")) {
            int dot = n.indexOf('.', 4);
            return dot < 0 ? n : n.substring(dot + 1);
        }
        return n;
    }
}
