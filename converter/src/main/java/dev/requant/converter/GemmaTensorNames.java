package dev.requant.converter;

import dev.requant.formats.model.GemmaArch;
import java.util.List;
import java.util.Map;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * Checkpoint tensor names to GGUF names for gemma3 / gemma4, with the filters convert_hf_to_gguf.py applies first
 * (conversion/gemma.py Gemma4Model.filter_tensors, base.py TextModel.filter_tensors and ModelBase.filter_tensors,
 * the skip list of prepare_tensors, Gemma4Model.modify_tensors' router renames) and the entries of gguf-py's
 * TensorNameMap that MODEL_TENSORS[gemma3 / gemma4] allow.
 */
public final class GemmaTensorNames {
    private GemmaTensorNames() {}

    /** The outcome for one checkpoint tensor. */
    public sealed interface Result permits Mapped, Dropped, Skipped, Unknown {}

    /** @param hfName the name after the filters (what the +1 rule of Gemma 3 looks at) */
    public record Mapped(String hfName, String ggufName, Integer blockId) implements Result {}

    /** A vision/audio/projector tensor: it belongs to the mmproj file, not the text GGUF. */
    public record Dropped(String hfName) implements Result {}

    /** A buffer convert_hf_to_gguf.py does not need (masked_bias, rotary inv_freq). */
    public record Skipped(String hfName) implements Result {}

    /** No GGUF name: convert_hf_to_gguf.py stops with "Can not map tensor". */
    public record Unknown(String hfName) implements Result {}

    private static final List<String> MM_PREFIXES = List.of("mlp", "vit.", "vpm.", "siglip2.", "conformer.", "merger.", "resampler.",
            "sound_encoder.", "sound_projection.", "speech_embeddings.");
    private static final List<String> MM_PARTS = List.of("visual.", "vision.", "audio.", "talker.", "vision_", "audio_", "sam_model",
            "token2wav.", "code2wav.", "projector.", "pre_mm_projector_norm", "image_newline", "view_seperator", "patch_embed",
            "patch_embedding", "patch_merger.", "patch_merge_mlp.", "model.connector.");

    private static final Map<String, String> GLOBAL = Map.of(
            "model.embed_tokens", "token_embd",
            "model.norm", "output_norm",
            "lm_head", "output");
    private static final Map<String, String> GLOBAL_GEMMA4 = Map.of(
            "model.embed_tokens_per_layer", "per_layer_token_embd",
            "model.per_layer_model_projection", "per_layer_model_proj",
            "model.per_layer_projection_norm", "per_layer_proj_norm");
    private static final Map<String, String> LAYER = Map.ofEntries(
            Map.entry("input_layernorm", "attn_norm"),
            Map.entry("self_attn.q_proj", "attn_q"),
            Map.entry("self_attn.k_proj", "attn_k"),
            Map.entry("self_attn.v_proj", "attn_v"),
            Map.entry("self_attn.o_proj", "attn_output"),
            Map.entry("self_attn.q_norm", "attn_q_norm"),
            Map.entry("self_attn.k_norm", "attn_k_norm"),
            Map.entry("post_attention_layernorm", "post_attention_norm"),
            Map.entry("pre_feedforward_layernorm", "ffn_norm"),
            Map.entry("post_feedforward_layernorm", "post_ffw_norm"),
            Map.entry("mlp.gate_proj", "ffn_gate"),
            Map.entry("mlp.up_proj", "ffn_up"),
            Map.entry("mlp.down_proj", "ffn_down"));
    private static final Map<String, String> LAYER_GEMMA4 = Map.ofEntries(
            Map.entry("layer_scalar", "layer_output_scale"),
            Map.entry("per_layer_input_gate", "inp_gate"),
            Map.entry("per_layer_projection", "proj"),
            Map.entry("post_per_layer_input_norm", "post_norm"),
            Map.entry("router.proj", "ffn_gate_inp"),
            Map.entry("experts.gate_up_proj", "ffn_gate_up_exps"),
            Map.entry("experts.down_proj", "ffn_down_exps"),
            Map.entry("pre_feedforward_layernorm_2", "pre_ffw_norm_2"),
            Map.entry("post_feedforward_layernorm_1", "post_ffw_norm_1"),
            Map.entry("post_feedforward_layernorm_2", "post_ffw_norm_2"));
    private static final Pattern LAYER_NAME = Pattern.compile("model\\.layers\\.(\\d+)\\.(.+)");

    public static Result map(String original, GemmaArch arch) {
        boolean g4 = arch == GemmaArch.GEMMA4;
        String name = original;
        if (g4) {
            if (name.endsWith("per_dim_scale") || name.endsWith("layer_scalar")) name = name + ".weight";
            if (name.contains(".experts.") && !(name.endsWith(".weight") || name.endsWith(".weight_scale")
                    || name.endsWith(".weight_scale_2") || name.endsWith(".input_scale"))) name = name + ".weight";
        }
        if (isMultimodal(name)) return new Dropped(original);
        name = name.replace("language_model.", "").replace("e_score_correction_bias", "e_score_correction.bias");
        if (name.endsWith(".attention.masked_bias") || name.endsWith(".attention.bias") || name.endsWith(".rotary_emb.inv_freq")) {
            return new Skipped(original);
        }
        Integer bid = blockId(name);
        if (g4 && bid != null && name.endsWith("router.scale")) return new Mapped(name, "blk." + bid + ".ffn_gate_inp.scale", bid);
        if (g4 && bid != null && name.contains(".per_expert_scale")) return new Mapped(name, "blk." + bid + ".ffn_down_exps.scale", bid);

        for (String suffix : new String[] {"", ".weight", ".bias"}) {
            if (!name.endsWith(suffix)) continue;
            String base = name.substring(0, name.length() - suffix.length());
            String g = GLOBAL.get(base);
            if (g == null && g4) g = GLOBAL_GEMMA4.get(base);
            if (g != null) return new Mapped(name, g + suffix, bid);
            Matcher m = LAYER_NAME.matcher(base);
            if (m.matches()) {
                String l = LAYER.get(m.group(2));
                if (l == null && g4) l = LAYER_GEMMA4.get(m.group(2));
                if (l != null) return new Mapped(name, "blk." + m.group(1) + "." + l + suffix, Integer.parseInt(m.group(1)));
            }
            if (suffix.isEmpty()) continue;
        }
        return new Unknown(original);
    }

    /**
     * The inverse of {@link #map} for the text model of a {@code *ForCausalLM} checkpoint: the name a Hugging Face
     * checkpoint stores a GGUF tensor under ({@code model.layers.N...}, {@code model.embed_tokens.weight},
     * {@code lm_head.weight}), undoing Gemma 4's router renames and the {@code .weight} its filter appends. Empty for
     * names that have no checkpoint tensor (the generated {@code rope_freqs}, NVFP4 {@code .scale} tensors).
     */
    public static java.util.Optional<String> checkpointName(String gguf, GemmaArch arch) {
        boolean g4 = arch == GemmaArch.GEMMA4;
        Matcher blk = GGUF_LAYER.matcher(gguf);
        if (g4 && blk.matches()) {
            String layer = "model.layers." + blk.group(1) + ".";
            switch (blk.group(2)) {
                case "ffn_gate_inp.scale" -> { return java.util.Optional.of(layer + "router.scale"); }
                case "ffn_down_exps.scale" -> { return java.util.Optional.of(layer + "router.per_expert_scale"); }
                default -> { }
            }
        }
        for (String suffix : new String[] {".weight", ".bias"}) {
            if (!gguf.endsWith(suffix)) continue;
            String base = gguf.substring(0, gguf.length() - suffix.length());
            String hf = INV_GLOBAL.get(base);
            if (hf == null && g4) hf = INV_GLOBAL_GEMMA4.get(base);
            if (hf == null && blk.matches()) {
                String kind = blk.group(2).substring(0, blk.group(2).length() - suffix.length());
                String l = INV_LAYER.get(kind);
                if (l == null && g4) l = INV_LAYER_GEMMA4.get(kind);
                if (l != null) hf = "model.layers." + blk.group(1) + "." + l;
            }
            if (hf == null) return java.util.Optional.empty();
            // Gemma4Model.filter_tensors appended .weight to these parameters; the checkpoint has none
            boolean bare = g4 && suffix.equals(".weight") && (hf.endsWith("layer_scalar") || hf.endsWith("per_dim_scale") || hf.contains(".experts."));
            return java.util.Optional.of(bare ? hf : hf + suffix);
        }
        return java.util.Optional.empty();
    }

    private static final Pattern GGUF_LAYER = Pattern.compile("blk\\.(\\d+)\\.(.+)");
    private static final Map<String, String> INV_GLOBAL = inverse(GLOBAL), INV_GLOBAL_GEMMA4 = inverse(GLOBAL_GEMMA4),
            INV_LAYER = inverse(LAYER), INV_LAYER_GEMMA4 = inverse(LAYER_GEMMA4);

    private static Map<String, String> inverse(Map<String, String> m) {
        Map<String, String> inv = new java.util.HashMap<>();
        m.forEach((k, v) -> inv.put(v, k));
        return Map.copyOf(inv);
    }

    static boolean isMultimodal(String name) {
        for (String p : MM_PREFIXES) if (name.startsWith(p)) return true;
        for (String p : MM_PARTS) if (name.contains(p)) return true;
        return false;
    }

    /** The first dot-separated part that is all digits (prepare_tensors' bid). */
    static Integer blockId(String name) {
        for (String part : name.split("\\.")) {
            if (!part.isEmpty() && part.chars().allMatch(c -> c >= '0' && c <= '9')) {
                try {
                    return Integer.parseInt(part);
                } catch (NumberFormatException e) {
                    return null;
                }
            }
        }
        return null;
    }
}
