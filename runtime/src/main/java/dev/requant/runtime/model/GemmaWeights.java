package dev.requant.runtime.model;

import dev.requant.formats.FormatException;
import dev.requant.formats.ggml.BlockCodec;
import dev.requant.formats.ggml.GgmlType;
import dev.requant.formats.gguf.GgufTensorSpec;
import dev.requant.formats.model.GemmaArch;
import dev.requant.formats.model.GemmaConfig;
import dev.requant.formats.model.LayerConfig;
import dev.requant.formats.model.ModelSource;
import java.lang.foreign.MemorySegment;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Optional;

/**
 * The tensors of a Gemma model by role, looked up by GGUF name in a {@link ModelSource} and checked against the
 * shapes llama.cpp's loader expects (src/models/gemma3.cpp, gemma4.cpp load_arch_tensors). Matrices are views of the
 * source's bytes in their stored type; only 1-D tensors (norms, scales, rope_freqs) are decoded to floats.
 * Backend-neutral: a GPU backend uploads the same {@link WeightTensor}s.
 *
 * @param output the LM head: output.weight, or token_embd.weight when the embeddings are tied
 * @param ropeFreqs rope_freqs.weight (Gemma 4 proportional RoPE on global layers), or null
 */
public record GemmaWeights(
        WeightTensor tokenEmbd,
        WeightTensor output,
        float[] outputNorm,
        float[] ropeFreqs,
        WeightTensor perLayerTokenEmbd,
        WeightTensor perLayerModelProj,
        float[] perLayerProjNorm,
        List<LayerWeights> layers) {

    public GemmaWeights {
        layers = List.copyOf(layers);
    }

    public LayerWeights layer(int i) { return layers.get(i); }

    /**
     * The same model with some matrices swapped (by name) for others of the same shape, e.g. one tensor quantized to
     * measure what that costs; with tied embeddings a new token_embd is the LM head too, as in llama.cpp.
     */
    public GemmaWeights replacing(java.util.Map<String, WeightTensor> byName) {
        java.util.function.UnaryOperator<WeightTensor> f = t -> {
            if (t == null) return null;
            WeightTensor r = byName.get(t.name());
            if (r == null) return t;
            if (!Arrays.equals(r.ne(), t.ne())) throw new IllegalArgumentException(r + " does not have the shape of " + t);
            return r;
        };
        List<LayerWeights> ls = layers.stream().map(l -> l.mapMatrices(f)).toList();
        return new GemmaWeights(f.apply(tokenEmbd), f.apply(output), outputNorm, ropeFreqs, f.apply(perLayerTokenEmbd),
                f.apply(perLayerModelProj), perLayerProjNorm, ls);
    }

    /** Every matrix the forward pass uses, by GGUF name (a tied LM head is token_embd, listed once). */
    public java.util.Map<String, WeightTensor> matricesByName() {
        java.util.Map<String, WeightTensor> m = new java.util.LinkedHashMap<>();
        java.util.function.UnaryOperator<WeightTensor> add = t -> {
            if (t != null) m.putIfAbsent(t.name(), t);
            return t;
        };
        add.apply(tokenEmbd);
        add.apply(perLayerTokenEmbd);
        add.apply(perLayerModelProj);
        for (LayerWeights l : layers) l.mapMatrices(add);
        add.apply(output);
        return m;
    }

    public static GemmaWeights load(ModelSource src, GemmaConfig c) throws FormatException {
        Loader l = new Loader(src);
        int nEmbd = c.nEmbd(), nVocab = c.nVocab();
        WeightTensor tokenEmbd = l.matrix("token_embd.weight", nEmbd, nVocab);
        WeightTensor output = l.optionalMatrix("output.weight", nEmbd, nVocab);
        if (output == null) output = tokenEmbd;
        float[] outputNorm = l.vector("output_norm.weight", nEmbd);

        float[] ropeFreqs = null;
        WeightTensor pleEmbd = null, pleProj = null;
        float[] pleNorm = null;
        if (c.arch() == GemmaArch.GEMMA4) {
            int globalHd = c.layers().stream().filter(x -> !x.slidingWindow()).mapToInt(LayerConfig::headDim).findFirst().orElse(0);
            if (globalHd > 0) ropeFreqs = l.optionalVector("rope_freqs.weight", globalHd / 2);
            if (c.hasPerLayerInputs()) {
                int ple = c.perLayerInputDim();
                pleEmbd = l.matrix("per_layer_token_embd.weight", ple * c.nLayer(), nVocab);
                pleProj = l.matrix("per_layer_model_proj.weight", nEmbd, ple * c.nLayer());
                pleNorm = l.vector("per_layer_proj_norm.weight", ple);
            }
        }

        List<LayerWeights> layers = new ArrayList<>();
        for (LayerConfig lc : c.layers()) {
            String p = "blk." + lc.index() + ".";
            boolean kv = lc.hasKv();
            int hd = lc.headDim();
            WeightTensor wk = kv ? l.matrix(p + "attn_k.weight", nEmbd, lc.kvDim()) : null;
            WeightTensor wv = kv ? l.optionalMatrix(p + "attn_v.weight", nEmbd, lc.kvDim()) : null;
            if (kv && wv == null && c.arch() == GemmaArch.GEMMA3) throw l.missing(p + "attn_v.weight");
            boolean g4 = c.arch() == GemmaArch.GEMMA4;
            WeightTensor inpGate = null, proj = null;
            float[] postNorm = null;
            if (g4 && c.hasPerLayerInputs()) {
                int ple = c.perLayerInputDim();
                inpGate = l.matrix(p + "inp_gate.weight", nEmbd, ple);
                proj = l.matrix(p + "proj.weight", ple, nEmbd);
                postNorm = l.vector(p + "post_norm.weight", nEmbd);
            }
            float layerScale = Float.NaN;
            if (g4) {
                float[] s = l.optionalVector(p + "layer_output_scale.weight", 1);
                if (s != null) layerScale = s[0];
            }
            LayerWeights.Moe moe = null;
            if (g4 && src.tensor(p + "ffn_gate_inp.weight").isPresent()) {
                if (c.nExpert() <= 0 || c.nExpertUsed() <= 0 || c.expertFf() <= 0) {
                    throw new FormatException(src.path(), p + "ffn_gate_inp.weight is present but expert_count/expert_used_count/expert_feed_forward_length are not set");
                }
                int e = c.nExpert(), ff = c.expertFf();
                WeightTensor gateUp = l.optionalMatrix(p + "ffn_gate_up_exps.weight", nEmbd, 2 * ff, e);
                WeightTensor gate = gateUp == null ? l.matrix(p + "ffn_gate_exps.weight", nEmbd, ff, e) : null;
                WeightTensor up = gateUp == null ? l.matrix(p + "ffn_up_exps.weight", nEmbd, ff, e) : null;
                moe = new LayerWeights.Moe(
                        l.matrix(p + "ffn_gate_inp.weight", nEmbd, e),
                        l.vector(p + "ffn_gate_inp.scale", nEmbd),
                        l.vector(p + "pre_ffw_norm_2.weight", nEmbd),
                        l.vector(p + "post_ffw_norm_1.weight", nEmbd),
                        l.vector(p + "post_ffw_norm_2.weight", nEmbd),
                        gateUp, gate, up,
                        l.matrix(p + "ffn_down_exps.weight", ff, nEmbd, e));
            }
            layers.add(new LayerWeights(
                    l.vector(p + "attn_norm.weight", nEmbd),
                    l.matrix(p + "attn_q.weight", nEmbd, lc.qDim()),
                    wk, wv,
                    l.matrix(p + "attn_output.weight", lc.qDim(), nEmbd),
                    l.vector(p + "attn_q_norm.weight", hd),
                    kv ? l.vector(p + "attn_k_norm.weight", hd) : null,
                    l.vector(p + "post_attention_norm.weight", nEmbd),
                    l.vector(p + "ffn_norm.weight", nEmbd),
                    l.matrix(p + "ffn_gate.weight", nEmbd, lc.nFf()),
                    l.matrix(p + "ffn_up.weight", nEmbd, lc.nFf()),
                    l.matrix(p + "ffn_down.weight", lc.nFf(), nEmbd),
                    l.vector(p + "post_ffw_norm.weight", nEmbd),
                    inpGate, proj, postNorm, layerScale, moe));
        }
        return new GemmaWeights(tokenEmbd, output, outputNorm, ropeFreqs, pleEmbd, pleProj, pleNorm, layers);
    }

    /** Looks tensors up and checks their dims, failing with the file and tensor name. */
    private static final class Loader {
        final ModelSource src;

        Loader(ModelSource src) { this.src = src; }

        FormatException missing(String name) {
            return new FormatException(src.path(), "missing tensor '" + name + "'");
        }

        WeightTensor matrix(String name, long... ne) throws FormatException {
            WeightTensor t = optionalMatrix(name, ne);
            if (t == null) throw missing(name);
            return t;
        }

        WeightTensor optionalMatrix(String name, long... ne) throws FormatException {
            Optional<GgufTensorSpec> spec = src.tensor(name);
            if (spec.isEmpty()) return null;
            GgufTensorSpec s = checkDims(spec.get(), ne);
            checkDecodable(s);
            MemorySegment data = src.data(name);
            String base = name.endsWith(".weight") ? name.substring(0, name.length() - ".weight".length()) : name;
            float[] scales = null;
            // NVFP4 checkpoints keep the per-tensor (or per-expert) global scale as <name>.scale (build_lora_mm's w_s);
            // ffn_gate_inp.scale is the router's input scale instead and is read by the MoE loader.
            if (!name.endsWith("ffn_gate_inp.weight") && src.tensor(base + ".scale").isPresent()) {
                int m = ne.length > 2 ? (int) ne[2] : 1;
                scales = optionalVector(base + ".scale", -1);
                if (scales.length != 1 && scales.length != m) {
                    throw new FormatException(src.path(), "tensor '" + base + ".scale' has " + scales.length + " values, expected 1 or " + m);
                }
            }
            return new WeightTensor(name, s.type(), ne, data, scales); // ne: checked equal to the file's dims
        }

        float[] vector(String name, int n) throws FormatException {
            float[] v = optionalVector(name, n);
            if (v == null) throw missing(name);
            return v;
        }

        /** A 1-D tensor decoded to floats; n < 0 accepts any length. */
        float[] optionalVector(String name, int n) throws FormatException {
            Optional<GgufTensorSpec> spec = src.tensor(name);
            if (spec.isEmpty()) return null;
            GgufTensorSpec s = spec.get();
            long count = s.elementCount();
            if (n >= 0 && (count != n || s.rowLength() != n)) {
                throw new FormatException(src.path(), "tensor '" + name + "' has dims " + Arrays.toString(s.ne()) + ", expected [" + n + "]");
            }
            checkDecodable(s);
            float[] out = new float[(int) count];
            BlockCodec.of(s.type()).decode(src.data(name), 0, out, 0, out.length);
            return out;
        }

        private GgufTensorSpec checkDims(GgufTensorSpec s, long[] ne) throws FormatException {
            for (int i = 0; i < Math.max(ne.length, s.nDims()); i++) {
                long want = i < ne.length ? ne[i] : 1;
                if (s.dim(i) != want) {
                    throw new FormatException(src.path(), "tensor '" + s.name() + "' has dims " + Arrays.toString(s.ne())
                            + ", expected " + Arrays.toString(ne));
                }
            }
            return s;
        }

        private void checkDecodable(GgufTensorSpec s) throws FormatException {
            GgmlType t = s.type();
            try {
                BlockCodec.of(t);
            } catch (UnsupportedOperationException e) {
                throw new FormatException(src.path(), "tensor '" + s.name() + "' has type " + t.ggmlName() + ", which this runtime cannot decode yet");
            }
        }
    }
}
