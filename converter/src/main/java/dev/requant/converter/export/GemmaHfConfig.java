package dev.requant.converter.export;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.JsonNodeFactory;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.requant.formats.model.GemmaArch;
import dev.requant.formats.FormatException;
import dev.requant.formats.gguf.GgufTensors;
import dev.requant.formats.gguf.GgufTensorInfo;
import dev.requant.formats.io.LittleEndian;
import java.util.Map;
import java.util.Optional;
import java.util.TreeMap;

/**
 * The config.json of an exported model: the inverse of what {@code requant convert} (and convert_hf_to_gguf.py) read
 * from it, written in the form transformers 5 saves a text-only Gemma 3 / Gemma 4 model ({@code layer_types},
 * {@code rope_parameters} per layer type, {@code per_layer_config} for full-attention head dims, keys sorted). What a
 * GGUF does not record is filled with the values every released Gemma has (GELU-tanh, no attention bias,
 * {@code query_pre_attn_scalar} by llama.cpp's rule). Converting the folder back reads the same hyperparameters.
 */
final class GemmaHfConfig {
    private static final JsonNodeFactory F = JsonNodeFactory.instance;

    private GemmaHfConfig() {}

    /** The transformers class a GGUF exports as when none is asked for. */
    static String defaultClass(GemmaArch arch, GgufTensors gguf) {
        if (arch == GemmaArch.GEMMA3) return "Gemma3ForCausalLM";
        // only the unified family writes suppress_tokens (Gemma4UnifiedModel.set_vocab)
        return gguf.metadata().contains("tokenizer.ggml.suppress_tokens") ? "Gemma4UnifiedForCausalLM" : "Gemma4ForCausalLM";
    }

    /**
     * @param tokens number of tokens of the vocabulary (vocab_size)
     * @param specialIds bos/eos/pad/unk/sep/mask ids found in the GGUF, by type
     */
    static ObjectNode build(GgufKeys k, GemmaArch arch, GemmaArch.HfClass cls, ExportSettings.Dtype dtype, int tokens,
                            Map<String, Integer> specialIds) throws FormatException {
        boolean g4 = arch == GemmaArch.GEMMA4;
        GgufTensors f = k.file();
        Map<String, JsonNode> c = new TreeMap<>();
        int L = Math.toIntExact(k.u("block_count"));
        long hidden = k.u("embedding_length");
        long heads = k.u("attention.head_count");
        long[] kv = k.perLayer("attention.head_count_kv", L);
        long[] ff = k.perLayer("feed_forward_length", L);
        int shared = Math.toIntExact(k.optU("attention.shared_kv_layers").orElse(0L));
        boolean[] sliding = sliding(k, g4, L);
        long headDimFull = k.u("attention.key_length");
        long headDimSwa = g4 ? k.optU("attention.key_length_swa").orElse(headDimFull) : headDimFull;

        c.put("architectures", F.arrayNode().add(cls.name()));
        c.put("model_type", F.textNode(g4 ? (cls.unified() ? "gemma4_unified_text" : "gemma4_text") : "gemma3_text"));
        c.put("dtype", F.textNode(dtype.torchName()));
        c.put("attention_bias", F.booleanNode(false));
        c.put("attention_dropout", F.numberNode(0.0));
        c.put("hidden_activation", F.textNode("gelu_pytorch_tanh"));
        c.put("initializer_range", F.numberNode(0.02));
        c.put("use_cache", F.booleanNode(true));
        c.put("num_hidden_layers", F.numberNode(L));
        c.put("hidden_size", F.numberNode(hidden));
        c.put("num_attention_heads", F.numberNode(heads));
        c.put("max_position_embeddings", F.numberNode(k.u("context_length")));
        c.put("rms_norm_eps", F.numberNode(k.optF("attention.layer_norm_rms_epsilon").orElse(1e-6)));
        c.put("vocab_size", F.numberNode(tokens));
        c.put("head_dim", F.numberNode(headDimSwa));
        c.put("tie_word_embeddings", F.booleanNode(f.tensor("output.weight").isEmpty()));
        Optional<Long> window = k.optU("attention.sliding_window");
        window.ifPresent(w -> c.put("sliding_window", F.numberNode(w)));
        Optional<Double> softcap = k.optF("final_logit_softcapping");
        c.put("final_logit_softcapping", softcap.<JsonNode>map(F::numberNode).orElse(F.nullNode()));
        var layerTypes = F.arrayNode();
        for (boolean s : sliding) layerTypes.add(s ? "sliding_attention" : "full_attention");
        c.put("layer_types", layerTypes);
        for (String t : new String[] {"bos", "eos", "pad", "unk", "sep", "mask"}) {
            Integer id = specialIds.get(t);
            if (id != null) c.put(t + "_token_id", F.numberNode(id));
        }

        Map<Integer, ObjectNode> perLayer = new TreeMap<>();
        // KV heads: one value, or (Gemma 4) a sliding and a full value, and any layer that differs from those
        int firstSliding = firstLayer(sliding, true), firstFull = firstLayer(sliding, false);
        long kvBase = kv[firstSliding >= 0 ? firstSliding : 0];
        Long kvGlobal = g4 && k.isArray("attention.head_count_kv") && firstFull >= 0 ? kv[firstFull] : null;
        c.put("num_key_value_heads", F.numberNode(kvBase));
        if (kvGlobal != null) c.put("num_global_key_value_heads", F.numberNode(kvGlobal));
        for (int i = 0; i < L; i++) {
            long want = !sliding[i] && kvGlobal != null ? kvGlobal : kvBase;
            if (kv[i] != want) layer(perLayer, i).put("num_key_value_heads", kv[i]);
        }
        // feed-forward widths: Gemma 4's double-wide rule, else one value and the layers that differ
        boolean doubleWide = false;
        if (g4 && k.isArray("feed_forward_length")) {
            doubleWide = true;
            for (int i = 0; i < L; i++) doubleWide &= ff[i] == (i >= L - shared ? 2 * ff[0] : ff[0]);
        }
        c.put("intermediate_size", F.numberNode(ff[0]));
        if (!doubleWide) for (int i = 0; i < L; i++) if (ff[i] != ff[0]) layer(perLayer, i).put("intermediate_size", ff[i]);

        double thetaFull = k.optF("rope.freq_base").orElse(1_000_000.0);
        double thetaSwa = k.optF("rope.freq_base_swa").orElse(10_000.0);
        ObjectNode rope = F.objectNode();
        ObjectNode full = rope.putObject("full_attention");
        if (g4) {
            full.put("partial_rotary_factor", partialRotary(k, headDimFull));
            full.put("rope_theta", thetaFull).put("rope_type", "proportional");
        } else {
            Optional<String> scaling = k.string("gemma3.rope.scaling.type");
            Optional<Double> factor = k.optF("rope.scaling.factor");
            if (scaling.isPresent() && !scaling.get().equals("linear") && !scaling.get().equals("none")) {
                throw k.error("gemma3.rope.scaling.type is '" + scaling.get() + "'; Gemma 3 uses linear scaling or none");
            }
            if (scaling.filter("linear"::equals).isPresent() && factor.isPresent()) full.put("factor", factor.get());
            full.put("rope_theta", thetaFull).put("rope_type", scaling.filter("linear"::equals).isPresent() && factor.isPresent() ? "linear" : "default");
        }
        rope.putObject("sliding_attention").put("rope_theta", thetaSwa).put("rope_type", "default");
        if (g4) {
            long rotSwa = k.optU("rope.dimension_count_swa").orElse(headDimSwa);
            if (rotSwa != headDimSwa) rope.put("partial_rotary_factor", (double) rotSwa / headDimSwa);
        }
        c.put("rope_parameters", rope);

        if (g4) {
            for (int i = 0; i < L; i++) if (!sliding[i]) layer(perLayer, i).put("head_dim", headDimFull);
            boolean kEqV = false;
            for (int i = 0; i < L - shared; i++) {
                if (!sliding[i] && f.tensor("blk." + i + ".attn_k.weight").isPresent() && f.tensor("blk." + i + ".attn_v.weight").isEmpty()) kEqV = true;
            }
            c.put("attention_k_eq_v", F.booleanNode(kEqV));
            c.put("num_kv_shared_layers", F.numberNode(shared));
            c.put("use_double_wide_mlp", F.booleanNode(doubleWide));
            long ple = k.optU("embedding_length_per_layer_input").orElse(0L);
            Optional<Long> experts = k.optU("expert_count");
            if (!cls.unified() || ple > 0) {
                c.put("hidden_size_per_layer_input", F.numberNode(ple));
                c.put("vocab_size_per_layer_input", F.numberNode(tokens));
            }
            if (!cls.unified() || experts.isPresent()) {
                c.put("enable_moe_block", F.booleanNode(experts.isPresent()));
                c.put("num_experts", experts.<JsonNode>map(F::numberNode).orElse(F.nullNode()));
                c.put("top_k_experts", k.optU("expert_used_count").<JsonNode>map(F::numberNode).orElse(F.nullNode()));
                c.put("moe_intermediate_size", k.optU("expert_feed_forward_length").<JsonNode>map(F::numberNode).orElse(F.nullNode()));
            }
            c.put("use_bidirectional_attention", cls.unified() ? F.textNode("vision") : F.nullNode());
        } else {
            c.put("_sliding_window_pattern", F.numberNode(6));
            c.put("attn_logit_softcapping", F.nullNode());
            // llama.cpp's gemma3 graph: 1/sqrt(n_embd/n_head) for the 27B (62 layers), else 1/sqrt(head_dim)
            c.put("query_pre_attn_scalar", F.numberNode(L == 62 ? hidden / heads : headDimFull));
            c.put("use_bidirectional_attention", F.booleanNode(false));
        }
        if (!perLayer.isEmpty()) {
            ObjectNode p = F.objectNode();
            perLayer.forEach((i, o) -> p.set(Integer.toString(i), o));
            c.put("per_layer_config", p);
        }
        ObjectNode out = F.objectNode();
        c.forEach(out::set);
        return out;
    }

    private static ObjectNode layer(Map<Integer, ObjectNode> m, int i) {
        return m.computeIfAbsent(i, x -> F.objectNode());
    }

    private static int firstLayer(boolean[] sliding, boolean want) {
        for (int i = 0; i < sliding.length; i++) if (sliding[i] == want) return i;
        return -1;
    }

    /** Gemma 4: the BOOL pattern. Gemma 3: every 6th layer full (llama.cpp's period; a scalar key may change it). */
    private static boolean[] sliding(GgufKeys k, boolean g4, int L) throws FormatException {
        if (g4) {
            boolean[] s = k.bools("attention.sliding_window_pattern").orElseThrow(() -> k.error("has no gemma4.attention.sliding_window_pattern"));
            if (s.length != L) throw k.error("gemma4.attention.sliding_window_pattern has " + s.length + " entries for " + L + " layers");
            return s;
        }
        long period = k.isArray("attention.sliding_window_pattern") ? 6 : k.optU("attention.sliding_window_pattern").orElse(6L);
        if (period != 6) throw k.error("gemma3.attention.sliding_window_pattern is " + period + "; a Gemma 3 checkpoint has a full layer every 6");
        boolean[] s = new boolean[L];
        for (int i = 0; i < L; i++) s[i] = i % 6 < 5;
        return s;
    }

    /**
     * Gemma 4's proportional RoPE as rope_freqs stores it: the leading pairs with factor 1 rotate, the rest (1e30) do
     * not; partial_rotary_factor = 2 x rotating pairs / global head dim. Without the tensor every pair rotates.
     */
    private static double partialRotary(GgufKeys k, long headDimFull) throws FormatException {
        GgufTensorInfo t = k.file().tensor("rope_freqs.weight").orElse(null);
        if (t == null) return 1.0;
        if (t.type() != dev.requant.formats.ggml.GgmlType.F32 || t.spec().elementCount() != headDimFull / 2) {
            throw k.error("rope_freqs.weight is " + t.type() + " with " + t.spec().elementCount() + " values; expected F32 with " + headDimFull / 2);
        }
        var data = k.file().tensorData(t);
        int n = Math.toIntExact(headDimFull / 2), rot = 0;
        while (rot < n && data.get(LittleEndian.FLOAT, 4L * rot) == 1f) rot++;
        for (int i = rot; i < n; i++) {
            if (!(data.get(LittleEndian.FLOAT, 4L * i) >= 1e29f)) {
                throw k.error("rope_freqs.weight[" + i + "] is " + data.get(LittleEndian.FLOAT, 4L * i)
                        + "; Gemma 4's proportional RoPE has factors 1 (rotating) then 1e30 (not rotating)");
            }
        }
        return 2.0 * rot / headDimFull;
    }
}
