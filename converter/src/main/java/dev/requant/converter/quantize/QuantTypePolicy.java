package dev.requant.converter.quantize;

import dev.requant.formats.gguf.FileType;
import dev.requant.formats.ggml.GgmlType;
import dev.requant.formats.gguf.GgufTensorSpec;
import java.util.List;

/**
 * llama-quantize's per-tensor type choice, rule for rule (src/llama-quant.cpp): tensor_allows_quantization,
 * llama_tensor_get_type, llama_tensor_get_type_impl (the mixture rules, here for the file types of
 * {@link FileType}) and tensor_type_fallback. The mixture rules count attn_v and ffn_* tensors as they go, so
 * {@link #decide} must be called once per tensor in output order ({@link WeightOrder}), as llama-quantize's
 * preliminary pass does.
 */
public final class QuantTypePolicy {
    /** Substrings of names llama.cpp never quantizes (tensor_allows_quantization). */
    private static final List<String> NEVER_QUANTIZED = List.of(
            "ffn_gate_inp.weight", "ffn_gate_tid2eid.weight", "altup", "laurel", "per_layer_model_proj", "ssm_conv1d",
            "shortconv.conv.weight", "indexer.k_proj.weight", "indexer.q_proj.weight",
            "time_mix_first.weight", "time_mix_w0.weight", "time_mix_w1.weight", "time_mix_w2.weight",
            "time_mix_v0.weight", "time_mix_v1.weight", "time_mix_v2.weight", "time_mix_a0.weight",
            "time_mix_a1.weight", "time_mix_a2.weight", "time_mix_g1.weight", "time_mix_g2.weight",
            "time_mix_decay_w1.weight", "time_mix_decay_w2.weight", "time_mix_lerp_fused.weight",
            "attn_rel_b.weight", ".position_embd", "sam.pos_embd", "sam.neck.", "sam.net_", ".rel_pos",
            ".patch_embd", ".patch_merger", "a.rvq.codebook", "mm.a.code_embd");

    private final QuantizeSettings settings;
    private final ModelFacts model;
    private final FileType ftype;
    private final boolean hasImatrix;
    private final boolean tiedEmbeddings;
    private final int nAttentionWv;
    private final int nFfnDown, nFfnGate, nFfnUp;
    private int iAttentionWv, iFfnDown, iFfnGate, iFfnUp;
    private int fallbacks;

    /**
     * @param names every tensor name of the model (init_quantize_state_counters counts attn_v-like tensors and looks
     *     for output.weight among them)
     */
    public QuantTypePolicy(QuantizeSettings settings, ModelFacts model, List<String> names) {
        this.settings = settings;
        this.model = model;
        this.ftype = settings.fileType();
        this.hasImatrix = settings.hasImatrix();
        int wv = 0;
        boolean tied = true;
        for (String n : names) {
            TensorCategory c = TensorCategory.of(n);
            if (c.isAttentionV()) wv++;
            if (c == TensorCategory.OUTPUT) tied = false;
        }
        this.nAttentionWv = wv;
        this.tiedEmbeddings = tied;
        this.nFfnDown = this.nFfnGate = this.nFfnUp = model.nLayer();
    }

    /** has_tied_embeddings: no output.weight, so token_embd doubles as the output projection. */
    public boolean tiedEmbeddings() { return tiedEmbeddings; }

    /** How many tensors took tensor_type_fallback so far. */
    public int fallbacks() { return fallbacks; }

    /** The output type of the next tensor (call in output order). */
    public QuantDecision decide(GgufTensorSpec tensor) {
        String name = tensor.name();
        String kept = notQuantizedBecause(tensor);
        if (kept != null) return new QuantDecision(tensor.type(), "kept: " + kept, false, false);
        TensorCategory cat = TensorCategory.of(name);
        GgmlType t;
        String rule;
        if (settings.tokenEmbeddingType() != null && cat == TensorCategory.TOKEN_EMBD) {
            t = settings.tokenEmbeddingType();
            rule = "--token-embedding-type";
        } else if (settings.outputTensorType() != null && cat == TensorCategory.OUTPUT) {
            t = settings.outputTensorType();
            rule = "--output-tensor-type";
        } else {
            t = ftype.defaultType();
            rule = ftype.name() + " default";
            if (t.quantized()) {
                boolean manual = false;
                for (TensorTypeOverride o : settings.tensorTypes()) {
                    if (o.matches(name)) {
                        t = o.type();
                        rule = "--tensor-type " + o;
                        manual = true;
                        break;
                    }
                }
                if (!manual && settings.pure()) rule = "--pure";
                if (!manual && !settings.pure()) {
                    Choice c = mixture(t, tensor, cat);
                    if (c.rule != null) rule = c.rule;
                    t = c.type;
                }
                GgmlType f = fallback(tensor, t);
                if (f != t) {
                    rule += "; ne0 " + tensor.rowLength() + " % " + t.blockSize() + " != 0: " + t.ggmlName() + " falls back to " + f.ggmlName();
                    t = f;
                }
            }
        }
        return new QuantDecision(t, rule, true, requiresImatrix(name, t));
    }

    /** Why tensor_allows_quantization is false, or null when it is true. */
    String notQuantizedBecause(GgufTensorSpec tensor) {
        if (tensor.withTrailingOnesDropped().nDims() < 2) return "1-D";
        String name = tensor.name();
        // name.rfind("weight") == name.size() - 6: true for names ending in "weight", and (size_t wrap) for 5-byte names.
        int bytes = name.getBytes(java.nio.charset.StandardCharsets.UTF_8).length;
        if (!name.endsWith("weight") && bytes != 5) return "not a weight";
        if (name.contains("_norm.weight")) return "norm";
        if (!settings.quantizeOutputTensor() && name.equals("output.weight")) return "--leave-output-tensor";
        for (String s : NEVER_QUANTIZED) if (name.contains(s)) return "never quantized (" + s + ")";
        if (name.equals("position_embd.weight") || name.equals("token_types.weight")) return "never quantized (" + name + ")";
        return null;
    }

    private record Choice(GgmlType type, String rule) {}

    private static boolean useMoreBits(int iLayer, int nLayers) {
        return iLayer < nLayers / 8 || iLayer >= 7 * nLayers / 8 || (iLayer - nLayers / 8) % 3 == 2;
    }

    /** layer_info: the counter, or with experts the layer number parsed from the name (experts are not consecutive). */
    private int layerOf(int counter, int nLayer, String name) {
        if (model.expertsAtLeastOne() > 1) {
            java.util.OptionalInt scanned = WeightOrder.scanLayer(name);
            if (scanned.isEmpty()) throw new QuantizePolicyException("Failed to determine layer for tensor " + name);
            int layer = scanned.getAsInt();
            if (layer < 0 || layer >= nLayer) {
                throw new QuantizePolicyException("Bad layer " + layer + " for tensor " + name + ". Must be in [0, " + nLayer + ")");
            }
            return layer;
        }
        return counter;
    }

    /** llama_tensor_get_type_impl for the file types requant writes; null rule = the default type stands. */
    private Choice mixture(GgmlType t, GgufTensorSpec tensor, TensorCategory cat) {
        String name = tensor.name();
        String arch = model.arch();
        boolean falcon = arch.equals(ModelFacts.FALCON);
        if (cat == TensorCategory.OUTPUT || (tiedEmbeddings && cat == TensorCategory.TOKEN_EMBD)) {
            String what = cat == TensorCategory.OUTPUT ? "output" : "tied token_embd (as output)";
            if (settings.outputTensorType() != null) return new Choice(settings.outputTensorType(), what + ": --output-tensor-type");
            long nx = tensor.rowLength();
            if (ftype == FileType.MXFP4_MOE) return new Choice(GgmlType.Q8_0, what + ": q8_0 (MXFP4_MOE)");
            if (falcon || nx % t.blockSize() != 0) {
                return new Choice(GgmlType.Q8_0, what + ": q8_0 (" + (falcon ? "falcon" : "ne0 % " + t.blockSize() + " != 0") + ")");
            }
            if (t != GgmlType.Q8_0) return new Choice(GgmlType.Q6_K, what + ": q6_K");
            return new Choice(t, what + ": stays q8_0");
        }
        if (ftype == FileType.MXFP4_MOE) {
            // MoE tensors -> MXFP4, other tensors -> Q8_0; BailingMoE3's MLA projections are 3-D too, so only its experts.
            boolean expertRole = cat == TensorCategory.FFN_UP || cat == TensorCategory.FFN_GATE || cat == TensorCategory.FFN_DOWN;
            if (tensor.dim(2) > 1 && (!arch.equals(ModelFacts.BAILINGMOE3) || expertRole)) {
                return new Choice(GgmlType.MXFP4, "MXFP4_MOE: 3-D expert tensor");
            }
            return new Choice(GgmlType.Q8_0, "MXFP4_MOE: q8_0 (not an expert tensor)");
        }
        if (cat == TensorCategory.TOKEN_EMBD) return new Choice(t, null); // only IQ/TQ/Q2_0 file types change it
        if (cat.isAttentionV()) {
            GgmlType nt = t;
            String rule = null;
            if ((ftype == FileType.Q4_K_M || ftype == FileType.Q5_K_M) && useMoreBits(iAttentionWv, nAttentionWv)) {
                nt = GgmlType.Q6_K;
                rule = "attn_v: use_more_bits(" + iAttentionWv + ", " + nAttentionWv + "): q6_K";
            } else if (ftype == FileType.Q4_K_S && iAttentionWv < 4) {
                nt = GgmlType.Q5_K;
                rule = "attn_v: first 4 (" + iAttentionWv + "): q5_K";
            }
            if (model.is70B() && (nt == GgmlType.Q3_K || nt == GgmlType.Q4_K)) {
                nt = GgmlType.Q5_K;
                rule = "attn_v: 70B model: q5_K";
            }
            if (model.nExpert() == 8) {
                nt = GgmlType.Q8_0;
                rule = "attn_v: 8 experts: q8_0";
            }
            ++iAttentionWv;
            return new Choice(nt, rule);
        }
        if (cat == TensorCategory.ATTENTION_K) {
            if (model.nExpert() == 8) return new Choice(GgmlType.Q8_0, "attn_k: 8 experts: q8_0");
            return new Choice(t, null);
        }
        if (cat == TensorCategory.FFN_DOWN) {
            int iLayer = layerOf(iFfnDown, nFfnDown, name), nLayer = nFfnDown;
            GgmlType nt = t;
            String rule = null;
            String at = "ffn_down layer " + iLayer + "/" + nLayer;
            if (ftype == FileType.Q4_K_M) {
                if (falcon) {
                    nt = iLayer < nLayer / 16 ? GgmlType.Q6_K : useMoreBits(iLayer, nLayer) ? GgmlType.Q5_K : GgmlType.Q4_K;
                    rule = at + " (falcon): " + nt.ggmlName();
                } else if (useMoreBits(iLayer, nLayer)) {
                    nt = GgmlType.Q6_K;
                    rule = at + ": use_more_bits: q6_K";
                }
            } else if (ftype == FileType.Q5_K_M && useMoreBits(iLayer, nLayer)) {
                nt = GgmlType.Q6_K;
                rule = at + ": use_more_bits: q6_K";
            } else if (ftype == FileType.Q4_K_S && !falcon && iLayer < nLayer / 8) {
                nt = GgmlType.Q5_K;
                rule = at + ": first 1/8: q5_K";
            } else if ((ftype == FileType.Q4_0 || ftype == FileType.Q5_0) && hasImatrix && iLayer < nLayer / 8) {
                // llama.cpp guards the first ffn_down layers against "craziness" only with an imatrix, so that
                // quantizing without one gives the same bytes as before imatrix support.
                nt = ftype == FileType.Q4_0 ? GgmlType.Q4_1 : GgmlType.Q5_1;
                rule = at + ": first 1/8 with imatrix: " + nt.ggmlName();
            }
            ++iFfnDown;
            return new Choice(nt, rule);
        }
        if (cat == TensorCategory.ATTENTION_OUTPUT) {
            if (!falcon && model.nExpert() == 8 && (ftype == FileType.Q4_K_S || ftype == FileType.Q4_K_M)) {
                return new Choice(GgmlType.Q5_K, "attn_output: 8 experts: q5_K");
            }
            return new Choice(t, null);
        }
        // ATTENTION_QKV never gets here (category_is_attn_v takes it first, in llama.cpp too).
        if (cat == TensorCategory.FFN_GATE) {
            layerOf(iFfnGate, nFfnGate, name); // only IQ3_XS changes gate/up; the layer check still applies
            ++iFfnGate;
        } else if (cat == TensorCategory.FFN_UP) {
            layerOf(iFfnUp, nFfnUp, name);
            ++iFfnUp;
        }
        return new Choice(t, null);
    }

    /** tensor_type_fallback: a type whose block does not divide ne[0] falls back, or the run fails. */
    private GgmlType fallback(GgufTensorSpec tensor, GgmlType target) {
        long ncols = tensor.rowLength();
        if (ncols % target.blockSize() == 0) return target;
        ++fallbacks;
        GgmlType r = switch (target) {
            case IQ1_S, IQ1_M, IQ2_XXS, IQ2_XS, IQ2_S, IQ3_XXS, IQ3_S, IQ4_XS -> GgmlType.IQ4_NL;
            case Q2_0, Q2_K, Q3_K, TQ1_0, TQ2_0 -> GgmlType.Q4_0;
            case Q4_K -> GgmlType.Q5_0;
            case Q5_K -> GgmlType.Q5_1;
            case Q6_K -> GgmlType.Q8_0;
            default -> throw new QuantizePolicyException("tensor " + tensor.name() + ": ne0 " + ncols + " is not a multiple of "
                    + target.blockSize() + " (required for type " + target.ggmlName() + ") and no tensor type fallback is defined for type "
                    + target.ggmlName());
        };
        if (ncols % r.blockSize() != 0) r = GgmlType.F16; // llama.cpp: "must use F16 due to unusual shape"
        return r;
    }

    /** tensor_requires_imatrix: the very low-bit types, never for token_embd / output. */
    private boolean requiresImatrix(String name, GgmlType t) {
        if (TensorCategory.isTokenEmbedding(name) || name.equals("output.weight")) return false;
        return switch (t) {
            case IQ3_XXS, IQ2_XXS, IQ2_XS, IQ2_S, IQ1_M, IQ1_S -> true;
            default -> false; // Q2_K only inside Q2_K_S files, which requant does not write
        };
    }
}
