package dev.requant.testmodels;

import dev.requant.formats.ggml.GgmlType;
import dev.requant.formats.ggml.RowSource;
import dev.requant.formats.ggml.TensorEncoder;
import dev.requant.formats.gguf.GgufArray;
import dev.requant.formats.gguf.GgufMetadata;
import dev.requant.formats.gguf.GgufTensorSpec;
import dev.requant.formats.gguf.GgufValue;
import dev.requant.formats.gguf.GgufWriter;
import java.io.IOException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

/**
 * Gemma 4 counterparts of {@link RunnableSyntheticGguf}: deterministic GGUFs of the released Gemma 4 text models'
 * shapes (sliding and full-attention layers with their own head sizes and KV heads, k_eq_v, KV-shared layers,
 * per-layer embeddings, mixture of experts) with the real 262,144-token vocabulary, streamed to disk like
 * {@link SyntheticGguf} (every row from (seed, name, row); never a tensor in memory), loadable by requant's runtime
 * and by llama.cpp. Matrices in one GGML type; norms, the router and the scalar tensors stay F32.
 */
public final class SyntheticGemma4Gguf {
    private SyntheticGemma4Gguf() {}

    /**
     * The dimensions. {@code fullEvery}: every n-th layer (the last of each group) uses full attention with
     * {@code globalHeadDim} and {@code globalKvHeads} (0: as the sliding layers), the others a window of
     * {@code slidingWindow}; the last {@code sharedKv} layers reuse earlier layers' KV; {@code ple} is the per-layer
     * embedding width (0: none); {@code experts > 0} adds a mixture-of-experts block beside each dense FFN.
     */
    public record Shape(String name, int hidden, int ffn, int layers, int heads, int kvHeads, int globalKvHeads,
                        int headDim, int globalHeadDim, boolean kEqV, int sharedKv, int ple, int slidingWindow,
                        int fullEvery, int experts, int expertsUsed, int expertFf) {
        public static final int VOCAB = SyntheticGguf.Shape.GEMMA_VOCAB;

        // Released Gemma 4 text models as far as the docs and published configs give them (gemma-conversion.md §2.2,
        // llama.cpp's size detection by layer count), the rest chosen so that the BF16 sizes match the published ones
        // (E4B 15.1 GB, 12B 23.8 GB, 26B-A4B 50.5 GB, 31B 61.4 GB; qat-nvfp4-facts.md).

        /** E4B: 42 layers, hidden 2560, 8 heads / 2 KV heads of 256 (full: 512), PLE 256, the last 18 layers KV-shared. */
        public static Shape e4b() { return new Shape("gemma4-e4b", 2560, 10240, 42, 8, 2, 0, 256, 512, false, 18, 256, 512, 6, 0, 0, 0); }

        /** 12B (Unified): 48 layers, hidden 3840, 16 heads / 8 KV heads of 256 (full: 512, 4 KV heads, k_eq_v). */
        public static Shape unified12b() { return new Shape("gemma4-12b", 3840, 15360, 48, 16, 8, 4, 256, 512, true, 0, 0, 1024, 6, 0, 0, 0); }

        /** 26B-A4B: 30 layers, hidden 2816, dense FFN 2112 plus 128 experts of 704 (top 8), 16 heads / 8 (full: 2, k_eq_v). */
        public static Shape a4b26b() { return new Shape("gemma4-26b-a4b", 2816, 2112, 30, 16, 8, 2, 256, 512, true, 0, 0, 1024, 6, 128, 8, 704); }

        /** 31B: 60 layers, hidden 5376, FFN 21504, 32 heads / 16 KV heads of 256 (full: 512, 4 KV heads, k_eq_v). */
        public static Shape b31() { return new Shape("gemma4-31b", 5376, 21504, 60, 32, 16, 4, 256, 512, true, 0, 0, 1024, 6, 0, 0, 0); }

        /** A few MiB with every feature (PLE, KV sharing, k_eq_v, experts), for tests. */
        public static Shape tiny() { return new Shape("gemma4-tiny", 256, 512, 4, 4, 2, 1, 64, 128, true, 1, 32, 64, 2, 8, 2, 128); }

        public static Shape byName(String name) {
            for (Shape s : List.of(e4b(), unified12b(), a4b26b(), b31(), tiny())) if (s.name.equals(name)) return s;
            throw new IllegalArgumentException("unknown shape " + name + " (gemma4-e4b, gemma4-12b, gemma4-26b-a4b, gemma4-31b, gemma4-tiny)");
        }

        public boolean sliding(int layer) { return (layer + 1) % fullEvery != 0; }

        int headDim(int layer) { return sliding(layer) ? headDim : globalHeadDim; }

        int kvHeads(int layer) { return sliding(layer) || globalKvHeads == 0 ? kvHeads : globalKvHeads; }

        boolean hasKv(int layer) { return layer < layers - sharedKv; }

        /** Parameters of the file's tensors. */
        public long parameters() { return tensors(this).stream().mapToLong(GgufTensorSpec::elementCount).sum(); }
    }

    /** The tensors in file order, in F32 (matrices are given their type by {@link #write}). */
    public static List<GgufTensorSpec> tensors(Shape s) {
        List<GgufTensorSpec> t = new ArrayList<>();
        int e = s.hidden();
        t.add(spec("token_embd.weight", e, Shape.VOCAB));
        t.add(spec("output_norm.weight", e));
        t.add(spec("rope_freqs.weight", s.globalHeadDim() / 2));
        if (s.ple() > 0) {
            t.add(spec("per_layer_token_embd.weight", (long) s.ple() * s.layers(), Shape.VOCAB));
            t.add(spec("per_layer_model_proj.weight", e, (long) s.ple() * s.layers()));
            t.add(spec("per_layer_proj_norm.weight", s.ple()));
        }
        for (int i = 0; i < s.layers(); i++) {
            String b = "blk." + i + ".";
            int hd = s.headDim(i), q = s.heads() * hd, kv = s.kvHeads(i) * hd;
            t.add(spec(b + "attn_norm.weight", e));
            t.add(spec(b + "attn_q.weight", e, q));
            if (s.hasKv(i)) {
                t.add(spec(b + "attn_k.weight", e, kv));
                if (!(s.kEqV() && !s.sliding(i))) t.add(spec(b + "attn_v.weight", e, kv));
                t.add(spec(b + "attn_k_norm.weight", hd));
            }
            t.add(spec(b + "attn_q_norm.weight", hd));
            t.add(spec(b + "attn_output.weight", q, e));
            t.add(spec(b + "post_attention_norm.weight", e));
            t.add(spec(b + "ffn_norm.weight", e));
            t.add(spec(b + "ffn_gate.weight", e, s.ffn()));
            t.add(spec(b + "ffn_up.weight", e, s.ffn()));
            t.add(spec(b + "ffn_down.weight", s.ffn(), e));
            t.add(spec(b + "post_ffw_norm.weight", e));
            t.add(spec(b + "layer_output_scale.weight", 1));
            if (s.ple() > 0) {
                t.add(spec(b + "inp_gate.weight", e, s.ple()));
                t.add(spec(b + "proj.weight", s.ple(), e));
                t.add(spec(b + "post_norm.weight", e));
            }
            if (s.experts() > 0) {
                t.add(spec(b + "ffn_gate_inp.weight", e, s.experts()));
                t.add(spec(b + "ffn_gate_inp.scale", e));
                t.add(spec(b + "pre_ffw_norm_2.weight", e));
                t.add(spec(b + "post_ffw_norm_1.weight", e));
                t.add(spec(b + "post_ffw_norm_2.weight", e));
                t.add(spec(b + "ffn_gate_up_exps.weight", e, 2L * s.expertFf(), s.experts()));
                t.add(spec(b + "ffn_down_exps.weight", s.expertFf(), e, s.experts()));
                t.add(spec(b + "ffn_down_exps.scale", s.experts()));
            }
        }
        return t;
    }

    private static GgufTensorSpec spec(String name, long... ne) { return new GgufTensorSpec(name, GgmlType.F32, ne); }

    /** Whether a tensor is stored in the matrix type (2-D and up, except the router, which the converter keeps F32). */
    static boolean isMatrix(GgufTensorSpec t) { return t.nDims() >= 2 && !t.name().endsWith("ffn_gate_inp.weight"); }

    /** gemma4.* keys as the converter writes them, and a made-up vocabulary of 262,144 tokens. */
    public static GgufMetadata metadata(Shape s, long seed, GgmlType matrixType) {
        GgufMetadata m = new GgufMetadata();
        String a = "gemma4.";
        m.put("general.architecture", GgufValue.string("gemma4"));
        m.put("general.type", GgufValue.string("model"));
        m.put("general.name", GgufValue.string("requant synthetic " + s.name() + " (seed " + seed + ")"));
        m.put(a + "context_length", GgufValue.u32(131072));
        m.put(a + "embedding_length", GgufValue.u32(s.hidden()));
        m.put(a + "block_count", GgufValue.u32(s.layers()));
        m.put(a + "feed_forward_length", GgufValue.u32(s.ffn()));
        m.put(a + "attention.head_count", GgufValue.u32(s.heads()));
        if (s.globalKvHeads() > 0) {
            int[] kv = new int[s.layers()];
            for (int i = 0; i < kv.length; i++) kv[i] = s.kvHeads(i);
            m.put(a + "attention.head_count_kv", GgufValue.array(GgufArray.ofInt32(kv)));
        } else {
            m.put(a + "attention.head_count_kv", GgufValue.u32(s.kvHeads()));
        }
        m.put(a + "attention.key_length", GgufValue.u32(s.globalHeadDim()));
        m.put(a + "attention.value_length", GgufValue.u32(s.globalHeadDim()));
        m.put(a + "attention.key_length_swa", GgufValue.u32(s.headDim()));
        m.put(a + "attention.value_length_swa", GgufValue.u32(s.headDim()));
        m.put(a + "rope.dimension_count", GgufValue.u32(s.globalHeadDim()));
        m.put(a + "rope.dimension_count_swa", GgufValue.u32(s.headDim()));
        m.put(a + "rope.freq_base", GgufValue.f32(1e6f));
        m.put(a + "rope.freq_base_swa", GgufValue.f32(1e4f));
        m.put(a + "attention.layer_norm_rms_epsilon", GgufValue.f32(1e-6f));
        m.put(a + "attention.sliding_window", GgufValue.u32(s.slidingWindow()));
        boolean[] pattern = new boolean[s.layers()];
        for (int i = 0; i < pattern.length; i++) pattern[i] = s.sliding(i);
        m.put(a + "attention.sliding_window_pattern", GgufValue.array(GgufArray.ofBool(pattern)));
        m.put(a + "attention.shared_kv_layers", GgufValue.u32(s.sharedKv()));
        m.put(a + "embedding_length_per_layer_input", GgufValue.u32(s.ple()));
        m.put(a + "final_logit_softcapping", GgufValue.f32(30f));
        if (s.experts() > 0) {
            m.put(a + "expert_count", GgufValue.u32(s.experts()));
            m.put(a + "expert_used_count", GgufValue.u32(s.expertsUsed()));
            m.put(a + "expert_feed_forward_length", GgufValue.u32(s.expertFf()));
        }
        m.put("general.file_type", GgufValue.u32(RunnableSyntheticGguf.fileType(matrixType)));
        m.put("general.quantization_version", GgufValue.u32(2));
        RunnableSyntheticGguf.addVocabulary(m, Shape.VOCAB);
        return m;
    }

    /** Writes the file atomically, matrices in {@code matrixType}, with {@code threads} encoder threads. */
    public static void write(Path out, Shape s, long seed, GgmlType matrixType, int threads) throws IOException {
        List<GgufTensorSpec> specs = new ArrayList<>();
        for (GgufTensorSpec t : tensors(s)) specs.add(isMatrix(t) ? t.withType(matrixType) : t);
        try (TensorEncoder enc = new TensorEncoder(threads);
                GgufWriter w = GgufWriter.create(out, metadata(s, seed, matrixType), specs)) {
            for (GgufTensorSpec t : specs) enc.encode(rows(t, s, seed), t.type(), null, w.beginTensor(t.name()));
            w.commit();
        }
    }

    /** SyntheticGguf's rows, except the tensors that are scales near 1 and the proportional-RoPE factors. */
    static RowSource rows(GgufTensorSpec t, Shape s, long seed) {
        String n = t.name();
        if (n.endsWith("layer_output_scale.weight") || n.endsWith(".scale")) return constant(t, 1f);
        if (n.equals("rope_freqs.weight")) {
            // partial_rotary_factor 0.25: the first quarter of the pairs rotate, the rest get a huge divisor
            int pairs = s.globalHeadDim() / 2;
            float[] v = new float[pairs];
            for (int i = 0; i < pairs; i++) v[i] = i < pairs / 4 ? 1f : 1e30f;
            return fixed(v);
        }
        return SyntheticGguf.rows(t, seed);
    }

    private static RowSource constant(GgufTensorSpec t, float value) {
        float[] v = new float[(int) t.rowLength()];
        java.util.Arrays.fill(v, value);
        return fixed(v);
    }

    private static RowSource fixed(float[] v) {
        return new RowSource() {
            @Override public int rowLength() { return v.length; }

            @Override public long rows() { return 1; }

            @Override public void read(long first, int count, float[] dst) { System.arraycopy(v, 0, dst, 0, v.length); }
        };
    }
}
