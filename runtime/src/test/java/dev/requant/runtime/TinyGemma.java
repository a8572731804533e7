package dev.requant.runtime;

import dev.requant.formats.ggml.BlockCodec;
import dev.requant.formats.ggml.GgmlType;
import dev.requant.formats.gguf.GgufArray;
import dev.requant.formats.gguf.GgufMetadata;
import dev.requant.formats.gguf.GgufTensorSpec;
import dev.requant.formats.gguf.GgufValue;
import dev.requant.formats.model.ModelSource;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.SplittableRandom;

/**
 * A small random Gemma 3 or Gemma 4 model held in memory as a {@link ModelSource}: GGUF metadata as the converter
 * writes it and tensors by GGUF name, matrices in a chosen type. The knobs cover the Gemma 4 features (PLE, KV-shared
 * layers, k_eq_v, MoE, softcap) so every branch of the forward pass runs in tests.
 */
public final class TinyGemma {
    public String arch = "gemma3";
    public int nEmbd = 64, nHead = 4, nHeadKv = 2, headDim = 32, headDimGlobal = 32, nFf = 96, nLayer = 3, nVocab = 97;
    public int slidingWindow = 4;
    public int ple = 0, sharedKv = 0, nExpert = 0, nExpertUsed = 0, expertFf = 64;
    public boolean kEqV = false;
    public float softcap = 0f;
    /** Whether layer matrices get a per-tensor output scale ({@code <name>.scale}, as NVFP4 checkpoints carry). */
    public boolean outputScales = false;
    /** Spread of token_embd (and so, tied, of the logits). */
    public float embdScale = 1f;
    public GgmlType matrixType = GgmlType.F32;
    public long seed = 1;
    /** Layer kinds for Gemma 4 (true = sliding); null = sliding except the last. */
    public boolean[] swaPattern;

    public static TinyGemma gemma3() { return new TinyGemma(); }

    public static TinyGemma gemma4() {
        TinyGemma t = new TinyGemma();
        t.arch = "gemma4";
        t.headDimGlobal = 64;
        t.ple = 16;
        t.softcap = 30f;
        t.nLayer = 4;
        return t;
    }

    public TinyGemma type(GgmlType t) { matrixType = t; return this; }

    private boolean swa(int i) {
        if (arch.equals("gemma3")) return (i % 6) < 5 && slidingWindow > 0;
        if (swaPattern != null) return swaPattern[i];
        return i != nLayer - 1;
    }

    public ModelSource build() {
        SplittableRandom rnd = new SplittableRandom(seed);
        GgufMetadata md = new GgufMetadata();
        String a = arch + ".";
        md.put("general.architecture", GgufValue.string(arch));
        md.put(a + "block_count", GgufValue.u32(nLayer));
        md.put(a + "context_length", GgufValue.u32(512));
        md.put(a + "embedding_length", GgufValue.u32(nEmbd));
        md.put(a + "feed_forward_length", GgufValue.u32(nFf));
        md.put(a + "attention.head_count", GgufValue.u32(nHead));
        md.put(a + "attention.head_count_kv", GgufValue.u32(nHeadKv));
        md.put(a + "attention.layer_norm_rms_epsilon", GgufValue.f32(1e-6f));
        md.put(a + "rope.freq_base", GgufValue.f32(1e6f));
        md.put(a + "rope.freq_base_swa", GgufValue.f32(1e4f));
        md.put(a + "attention.sliding_window", GgufValue.u32(slidingWindow));
        if (softcap > 0) md.put(a + "final_logit_softcapping", GgufValue.f32(softcap));
        boolean g4 = arch.equals("gemma4");
        if (g4) {
            md.put(a + "attention.key_length", GgufValue.u32(headDimGlobal));
            md.put(a + "attention.value_length", GgufValue.u32(headDimGlobal));
            md.put(a + "attention.key_length_swa", GgufValue.u32(headDim));
            md.put(a + "attention.value_length_swa", GgufValue.u32(headDim));
            md.put(a + "rope.dimension_count", GgufValue.u32(headDimGlobal));
            md.put(a + "rope.dimension_count_swa", GgufValue.u32(headDim));
            boolean[] pat = new boolean[nLayer];
            for (int i = 0; i < nLayer; i++) pat[i] = swa(i);
            md.put(a + "attention.sliding_window_pattern", GgufValue.array(GgufArray.ofBool(pat)));
            md.put(a + "attention.shared_kv_layers", GgufValue.u32(sharedKv));
            md.put(a + "embedding_length_per_layer_input", GgufValue.u32(ple));
            if (nExpert > 0) {
                md.put(a + "expert_count", GgufValue.u32(nExpert));
                md.put(a + "expert_used_count", GgufValue.u32(nExpertUsed));
                md.put(a + "expert_feed_forward_length", GgufValue.u32(expertFf));
            }
        } else {
            md.put(a + "attention.key_length", GgufValue.u32(headDim));
            md.put(a + "attention.value_length", GgufValue.u32(headDim));
        }

        Map<String, Tensor> tensors = new LinkedHashMap<>();
        Arena arena = Arena.ofShared();
        Adder add = (name, type, scale, offset, ne) -> tensors.put(name, Tensor.random(arena, rnd, name, type, scale, offset, ne));
        add.add("token_embd.weight", matrixType, embdScale, 0f, nEmbd, nVocab);
        add.add("output_norm.weight", GgmlType.F32, 0.3f, 1f, nEmbd);
        if (g4) {
            int nRotProp = headDimGlobal / 8; // partial_rotary_factor 0.25: n_rot/2 = hd*0.25/2 pairs rotate
            float[] ff = new float[headDimGlobal / 2];
            for (int i = 0; i < ff.length; i++) ff[i] = i < nRotProp ? 1f : 1e30f;
            tensors.put("rope_freqs.weight", Tensor.of(arena, "rope_freqs.weight", GgmlType.F32, ff, ff.length));
            if (ple > 0) {
                add.add("per_layer_token_embd.weight", matrixType, 1f, 0f, (long) ple * nLayer, nVocab);
                add.add("per_layer_model_proj.weight", matrixType, 0.1f, 0f, nEmbd, (long) ple * nLayer);
                add.add("per_layer_proj_norm.weight", GgmlType.F32, 0.3f, 1f, ple);
            }
        }
        int kvFromStart = nLayer - sharedKv;
        for (int i = 0; i < nLayer; i++) {
            String p = "blk." + i + ".";
            boolean swa = swa(i);
            int hd = g4 && !swa ? headDimGlobal : headDim;
            float ws = (float) (1 / Math.sqrt(nEmbd));
            add.add(p + "attn_norm.weight", GgmlType.F32, 0.3f, 1f, nEmbd);
            add.add(p + "attn_q.weight", matrixType, ws, 0f, nEmbd, (long) hd * nHead);
            boolean hasKv = !g4 || i < kvFromStart;
            if (hasKv) {
                add.add(p + "attn_k.weight", matrixType, ws, 0f, nEmbd, (long) hd * nHeadKv);
                if (!(g4 && kEqV && !swa)) add.add(p + "attn_v.weight", matrixType, ws, 0f, nEmbd, (long) hd * nHeadKv);
                add.add(p + "attn_k_norm.weight", GgmlType.F32, 0.3f, 1f, hd);
            }
            add.add(p + "attn_q_norm.weight", GgmlType.F32, 0.3f, 1f, hd);
            add.add(p + "attn_output.weight", matrixType, (float) (1 / Math.sqrt(hd * nHead)), 0f, (long) hd * nHead, nEmbd);
            add.add(p + "post_attention_norm.weight", GgmlType.F32, 0.3f, 1f, nEmbd);
            add.add(p + "ffn_norm.weight", GgmlType.F32, 0.3f, 1f, nEmbd);
            add.add(p + "ffn_gate.weight", matrixType, ws, 0f, nEmbd, nFf);
            add.add(p + "ffn_up.weight", matrixType, ws, 0f, nEmbd, nFf);
            add.add(p + "ffn_down.weight", matrixType, (float) (1 / Math.sqrt(nFf)), 0f, nFf, nEmbd);
            add.add(p + "post_ffw_norm.weight", GgmlType.F32, 0.3f, 1f, nEmbd);
            if (g4) {
                add.add(p + "layer_output_scale.weight", GgmlType.F32, 0.1f, 0.8f, 1);
                if (ple > 0) {
                    add.add(p + "inp_gate.weight", matrixType, ws, 0f, nEmbd, ple);
                    add.add(p + "proj.weight", matrixType, (float) (1 / Math.sqrt(ple)), 0f, ple, nEmbd);
                    add.add(p + "post_norm.weight", GgmlType.F32, 0.3f, 1f, nEmbd);
                }
                if (nExpert > 0) {
                    add.add(p + "ffn_gate_inp.weight", GgmlType.F32, 1f, 0f, nEmbd, nExpert);
                    add.add(p + "ffn_gate_inp.scale", GgmlType.F32, 0.3f, 1f, nEmbd);
                    add.add(p + "pre_ffw_norm_2.weight", GgmlType.F32, 0.3f, 1f, nEmbd);
                    add.add(p + "post_ffw_norm_1.weight", GgmlType.F32, 0.3f, 1f, nEmbd);
                    add.add(p + "post_ffw_norm_2.weight", GgmlType.F32, 0.3f, 1f, nEmbd);
                    add.add(p + "ffn_gate_up_exps.weight", matrixType, ws, 0f, nEmbd, 2L * expertFf, nExpert);
                    add.add(p + "ffn_down_exps.weight", matrixType, (float) (1 / Math.sqrt(expertFf)), 0f, expertFf, nEmbd, nExpert);
                    add.add(p + "ffn_down_exps.scale", GgmlType.F32, 0.2f, 1f, nExpert);
                }
            }
        }
        if (outputScales) {
            for (String name : new ArrayList<>(tensors.keySet())) {
                if (name.startsWith("blk.") && tensors.get(name).spec().nDims() >= 2 && !name.contains("_exps")
                        && !name.contains("ffn_gate_inp")) {
                    add.add(name.replace(".weight", ".scale"), GgmlType.F32, 0.4f, 1f, 1);
                }
            }
        }
        return new MemorySource(md, tensors, arena);
    }

    @FunctionalInterface
    private interface Adder {
        void add(String name, GgmlType type, float scale, float offset, long... ne);
    }

    /** A tensor in memory, encoded with the formats module's codecs. */
    public record Tensor(GgufTensorSpec spec, MemorySegment data) {
        static Tensor random(Arena arena, SplittableRandom rnd, String name, GgmlType type, float scale, float offset, long... ne) {
            long n = 1;
            for (long d : ne) n *= d;
            float[] v = new float[(int) n];
            for (int i = 0; i < v.length; i++) v[i] = offset + scale * (float) (rnd.nextDouble() * 2 - 1) * 1.7f;
            return of(arena, name, type, v, ne);
        }

        public static Tensor of(Arena arena, String name, GgmlType type, float[] v, long... ne) {
            GgufTensorSpec spec = new GgufTensorSpec(name, type, ne);
            MemorySegment seg = arena.allocate(Math.max(1, spec.byteSize()), 32);
            BlockCodec codec = BlockCodec.of(type);
            int row = (int) ne[0];
            long rb = type.rowBytes(row);
            // the IQ1/IQ2 encoders need importance weights, as ggml's do: uniform ones
            float[] importance = codec.requiresImportance() ? new float[row] : null;
            if (importance != null) java.util.Arrays.fill(importance, 1f);
            for (long r = 0; r < spec.rows(); r++) codec.encodeRow(v, (int) (r * row), row, importance, seg, r * rb);
            return new Tensor(spec, seg);
        }
    }

    /** A {@link ModelSource} over tensors held in memory. */
    public static final class MemorySource implements ModelSource {
        private final GgufMetadata md;
        private final Map<String, Tensor> tensors;
        private final Arena arena;

        public MemorySource(GgufMetadata md, Map<String, Tensor> tensors, Arena arena) {
            this.md = md;
            this.tensors = tensors;
            this.arena = arena;
        }

        @Override public Path path() { return Path.of("<tiny-gemma>"); }

        @Override public GgufMetadata metadata() { return md; }

        @Override
        public List<GgufTensorSpec> tensors() {
            List<GgufTensorSpec> out = new ArrayList<>();
            for (Tensor t : tensors.values()) out.add(t.spec());
            return out;
        }

        @Override
        public Optional<GgufTensorSpec> tensor(String name) {
            return Optional.ofNullable(tensors.get(name)).map(Tensor::spec);
        }

        @Override
        public MemorySegment data(String name) {
            Tensor t = tensors.get(name);
            if (t == null) throw new java.util.NoSuchElementException(name);
            return t.data().asSlice(0, t.spec().byteSize());
        }

        /** Replaces or adds a tensor (tests of bad shapes). */
        public void put(Tensor t) { tensors.put(t.spec().name(), t); }

        public void remove(String name) { tensors.remove(name); }

        @Override
        public void close() { arena.close(); }
    }
}
