package dev.requant.converter.quantize;

import dev.requant.formats.ggml.GgmlType;
import dev.requant.formats.ggml.TensorEncoder;
import dev.requant.formats.gguf.GgufMetadata;
import dev.requant.formats.gguf.GgufTensorSpec;
import dev.requant.formats.gguf.GgufValue;
import dev.requant.formats.gguf.GgufWriter;
import dev.requant.formats.imatrix.ImatrixImportance;
import dev.requant.testmodels.SyntheticGguf;
import java.io.IOException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.SplittableRandom;
import java.util.TreeMap;

/**
 * Small llama-architecture GGUFs that exercise llama-quantize's type rules: enough layers for the layer-position
 * rules, row lengths that are and are not multiples of 256 (fallbacks), tied or separate output, dense or 8-expert MoE
 * (3-D expert tensors, router), weights in BF16, F16 or F32. llama.cpp loads them for quantization (it reads only the
 * hyperparameters), so they can be quantized by both.
 */
record SyntheticLlama(String name, int layers, int hidden, int ffn, int heads, int kvHeads, int vocab, int experts,
                      boolean tiedOutput, GgmlType weightType) {

    /** 16 layers, hidden 96 (not a multiple of 256: K-quants fall back), separate output, BF16. */
    static SyntheticLlama narrow16() { return new SyntheticLlama("narrow16", 16, 96, 256, 2, 1, 256, 0, false, GgmlType.BF16); }

    /** 8 layers, every row a multiple of 256, tied embeddings, n_gqa 4 (8 heads of 32, 2 KV heads), BF16. */
    static SyntheticLlama wide8() { return new SyntheticLlama("wide8", 8, 256, 512, 8, 2, 512, 0, true, GgmlType.BF16); }

    /** 4 layers of 8 experts (expert FFN 64 wide), F32 weights. */
    static SyntheticLlama moe8() { return new SyntheticLlama("moe8", 4, 256, 64, 4, 2, 256, 8, false, GgmlType.F32); }

    List<GgufTensorSpec> tensors() {
        List<GgufTensorSpec> t = new ArrayList<>();
        int hd = hidden / heads;
        t.add(new GgufTensorSpec("token_embd.weight", weightType, new long[] {hidden, vocab}));
        if (!tiedOutput) t.add(new GgufTensorSpec("output.weight", weightType, new long[] {hidden, vocab}));
        t.add(new GgufTensorSpec("output_norm.weight", GgmlType.F32, new long[] {hidden}));
        for (int l = 0; l < layers; l++) {
            String b = "blk." + l + ".";
            t.add(new GgufTensorSpec(b + "attn_norm.weight", GgmlType.F32, new long[] {hidden}));
            t.add(new GgufTensorSpec(b + "attn_q.weight", weightType, new long[] {hidden, (long) heads * hd}));
            t.add(new GgufTensorSpec(b + "attn_k.weight", weightType, new long[] {hidden, (long) kvHeads * hd}));
            t.add(new GgufTensorSpec(b + "attn_v.weight", weightType, new long[] {hidden, (long) kvHeads * hd}));
            t.add(new GgufTensorSpec(b + "attn_output.weight", weightType, new long[] {(long) heads * hd, hidden}));
            t.add(new GgufTensorSpec(b + "ffn_norm.weight", GgmlType.F32, new long[] {hidden}));
            if (experts > 0) {
                t.add(new GgufTensorSpec(b + "ffn_gate_inp.weight", GgmlType.F32, new long[] {hidden, experts}));
                t.add(new GgufTensorSpec(b + "ffn_gate_exps.weight", weightType, new long[] {hidden, ffn, experts}));
                t.add(new GgufTensorSpec(b + "ffn_up_exps.weight", weightType, new long[] {hidden, ffn, experts}));
                t.add(new GgufTensorSpec(b + "ffn_down_exps.weight", weightType, new long[] {ffn, hidden, experts}));
            } else {
                t.add(new GgufTensorSpec(b + "ffn_gate.weight", weightType, new long[] {hidden, ffn}));
                t.add(new GgufTensorSpec(b + "ffn_up.weight", weightType, new long[] {hidden, ffn}));
                t.add(new GgufTensorSpec(b + "ffn_down.weight", weightType, new long[] {ffn, hidden}));
            }
        }
        return t;
    }

    GgufMetadata metadata() {
        GgufMetadata m = new GgufMetadata();
        m.put("general.architecture", GgufValue.string("llama"));
        m.put("general.name", GgufValue.string("requant synthetic " + name));
        m.put("llama.context_length", GgufValue.u32(128));
        m.put("llama.embedding_length", GgufValue.u32(hidden));
        m.put("llama.block_count", GgufValue.u32(layers));
        m.put("llama.feed_forward_length", GgufValue.u32(ffn));
        m.put("llama.attention.head_count", GgufValue.u32(heads));
        m.put("llama.attention.head_count_kv", GgufValue.u32(kvHeads));
        m.put("llama.attention.layer_norm_rms_epsilon", GgufValue.f32(1e-5f));
        if (experts > 0) {
            m.put("llama.expert_count", GgufValue.u32(experts));
            m.put("llama.expert_used_count", GgufValue.u32(2));
        }
        m.put("general.file_type", GgufValue.u32(weightType == GgmlType.F32 ? 0 : weightType == GgmlType.F16 ? 1 : 32));
        return m;
    }

    Path write(Path dir) throws IOException {
        Path out = dir.resolve(name + "." + weightType.ggmlName() + ".gguf");
        List<GgufTensorSpec> specs = tensors();
        try (TensorEncoder enc = new TensorEncoder(2); GgufWriter w = GgufWriter.create(out, metadata(), specs)) {
            for (GgufTensorSpec t : specs) enc.encode(SyntheticGguf.rows(t, 7), t.type(), null, w.beginTensor(t.name()));
            w.commit();
        }
        return out;
    }

    /** An imatrix as llama-imatrix would give for this model: positive mean squares for every matrix but token_embd. */
    ImatrixImportance importance(long seed) {
        TreeMap<String, float[]> values = new TreeMap<>();
        SplittableRandom r = new SplittableRandom(seed);
        for (GgufTensorSpec t : tensors()) {
            if (t.nDims() < 2 || t.name().startsWith("token_embd") || t.name().contains("_norm")) continue;
            float[] v = new float[(int) (t.rowLength() * t.dim(2))];
            for (int i = 0; i < v.length; i++) v[i] = (float) Math.exp(2 * r.nextGaussian()) * 0.01f;
            values.put(t.name(), v);
        }
        return new ImatrixImportance(values, List.of("synthetic.txt"), 17);
    }
}
