package dev.requant.converter.quantize;

import dev.requant.formats.gguf.FileType;
import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.requant.formats.ggml.GgmlType;
import dev.requant.formats.gguf.GgufTensorSpec;
import dev.requant.formats.imatrix.ImatrixImportance;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;

/**
 * The type rules on hand-made tensor lists, each expectation read off llama_tensor_get_type_impl. (Whole models are
 * compared with the real llama.cpp in LlamaCppQuantizeInteropTest; these pin the individual rules.)
 */
class QuantTypePolicyTest {
    static final ModelFacts DENSE16 = new ModelFacts("llama", 16, 0, false);

    /** Decides every tensor of a 16-layer dense model (name order as llama-quantize) and returns name -> type. */
    static Map<String, GgmlType> decide(QuantizeSettings s, ModelFacts m, List<GgufTensorSpec> tensors) {
        List<GgufTensorSpec> sorted = new ArrayList<>(tensors);
        sorted.sort((a, b) -> WeightOrder.INSTANCE.compare(a.name(), b.name()));
        QuantTypePolicy p = new QuantTypePolicy(s, m, sorted.stream().map(GgufTensorSpec::name).toList());
        Map<String, GgmlType> out = new LinkedHashMap<>();
        for (GgufTensorSpec t : sorted) out.put(t.name(), p.decide(t).type());
        return out;
    }

    static List<GgufTensorSpec> dense(int layers, int hidden, int ffn, boolean output) {
        List<GgufTensorSpec> t = new ArrayList<>();
        t.add(spec("token_embd.weight", hidden, 1000));
        if (output) t.add(spec("output.weight", hidden, 1000));
        t.add(new GgufTensorSpec("output_norm.weight", GgmlType.F32, new long[] {hidden}));
        for (int l = 0; l < layers; l++) {
            t.add(spec("blk." + l + ".attn_v.weight", hidden, hidden));
            t.add(spec("blk." + l + ".attn_q.weight", hidden, hidden));
            t.add(spec("blk." + l + ".ffn_down.weight", ffn, hidden));
            t.add(spec("blk." + l + ".ffn_up.weight", hidden, ffn));
        }
        return t;
    }

    static GgufTensorSpec spec(String name, long ne0, long ne1) {
        return new GgufTensorSpec(name, GgmlType.BF16, new long[] {ne0, ne1});
    }

    static QuantizeSettings withSomeImatrix(QuantizeSettings s) {
        return s.withImatrix(new ImatrixInput("x", new ImatrixImportance(new java.util.TreeMap<>(Map.of("blk.0.ffn_down.weight", new float[256])), List.of(), 0)));
    }

    @Test
    void q4kmPromotesAttnVAndFfnDownWhereUseMoreBits() {
        Map<String, GgmlType> t = decide(QuantizeSettings.of(FileType.Q4_K_M), DENSE16, dense(16, 256, 512, true));
        // use_more_bits(i, 16): i < 2, i >= 14, or (i - 2) % 3 == 2 -> 0, 1, 4, 7, 10, 13, 14, 15
        List<Integer> promoted = List.of(0, 1, 4, 7, 10, 13, 14, 15);
        for (int l = 0; l < 16; l++) {
            GgmlType want = promoted.contains(l) ? GgmlType.Q6_K : GgmlType.Q4_K;
            assertThat(t.get("blk." + l + ".attn_v.weight")).as("attn_v " + l).isEqualTo(want);
            assertThat(t.get("blk." + l + ".ffn_down.weight")).as("ffn_down " + l).isEqualTo(want);
            assertThat(t.get("blk." + l + ".attn_q.weight")).isEqualTo(GgmlType.Q4_K);
            assertThat(t.get("blk." + l + ".ffn_up.weight")).isEqualTo(GgmlType.Q4_K);
        }
        assertThat(t.get("output.weight")).isEqualTo(GgmlType.Q6_K);
        assertThat(t.get("token_embd.weight")).isEqualTo(GgmlType.Q4_K);
        assertThat(t.get("output_norm.weight")).isEqualTo(GgmlType.F32);
    }

    @Test
    void q4ksPromotesFirstFourAttnVAndFirstEighthOfFfnDown() {
        Map<String, GgmlType> t = decide(QuantizeSettings.of(FileType.Q4_K_S), DENSE16, dense(16, 256, 512, true));
        for (int l = 0; l < 16; l++) {
            assertThat(t.get("blk." + l + ".attn_v.weight")).isEqualTo(l < 4 ? GgmlType.Q5_K : GgmlType.Q4_K);
            assertThat(t.get("blk." + l + ".ffn_down.weight")).isEqualTo(l < 2 ? GgmlType.Q5_K : GgmlType.Q4_K);
        }
    }

    @Test
    void q5kmPromotesToQ6K() {
        Map<String, GgmlType> t = decide(QuantizeSettings.of(FileType.Q5_K_M), DENSE16, dense(16, 256, 512, true));
        assertThat(t.get("blk.4.attn_v.weight")).isEqualTo(GgmlType.Q6_K);
        assertThat(t.get("blk.5.attn_v.weight")).isEqualTo(GgmlType.Q5_K);
        assertThat(t.get("blk.13.ffn_down.weight")).isEqualTo(GgmlType.Q6_K);
        assertThat(t.get("blk.12.ffn_down.weight")).isEqualTo(GgmlType.Q5_K);
    }

    @Test
    void q4AndQ5WithImatrixGuardTheFirstFfnDownLayers() {
        for (FileType f : List.of(FileType.Q4_0, FileType.Q5_0)) {
            Map<String, GgmlType> plain = decide(QuantizeSettings.of(f), DENSE16, dense(16, 256, 512, true));
            Map<String, GgmlType> imat = decide(withSomeImatrix(QuantizeSettings.of(f)), DENSE16, dense(16, 256, 512, true));
            GgmlType guarded = f == FileType.Q4_0 ? GgmlType.Q4_1 : GgmlType.Q5_1;
            for (int l = 0; l < 16; l++) {
                assertThat(plain.get("blk." + l + ".ffn_down.weight")).isEqualTo(f.defaultType());
                assertThat(imat.get("blk." + l + ".ffn_down.weight")).isEqualTo(l < 2 ? guarded : f.defaultType());
            }
            assertThat(plain.get("output.weight")).isEqualTo(GgmlType.Q6_K);
        }
    }

    @Test
    void tiedEmbeddingsTakeTheOutputRuleAndItsFallback() {
        Map<String, GgmlType> tied = decide(QuantizeSettings.of(FileType.Q4_0), DENSE16, dense(2, 256, 512, false));
        assertThat(tied.get("token_embd.weight")).isEqualTo(GgmlType.Q6_K);
        Map<String, GgmlType> odd = decide(QuantizeSettings.of(FileType.Q4_0), DENSE16, dense(2, 1152, 512, false));
        assertThat(odd.get("token_embd.weight")).as("q6_K falls back for ne0 1152").isEqualTo(GgmlType.Q8_0);
        Map<String, GgmlType> k = decide(QuantizeSettings.of(FileType.Q4_K_M), DENSE16, dense(2, 1152, 512, false));
        assertThat(k.get("token_embd.weight")).as("ne0 % 256 != 0 with a K-quant default").isEqualTo(GgmlType.Q8_0);
        Map<String, GgmlType> q8 = decide(QuantizeSettings.of(FileType.Q8_0), DENSE16, dense(2, 256, 512, false));
        assertThat(q8.get("token_embd.weight")).isEqualTo(GgmlType.Q8_0);
    }

    @Test
    void kQuantsFallBackForRowsThatAreNotWholeSuperBlocks() {
        Map<String, GgmlType> t = decide(QuantizeSettings.of(FileType.Q4_K_M).withPure(true), DENSE16, dense(2, 96, 256, true));
        assertThat(t.get("blk.0.attn_q.weight")).isEqualTo(GgmlType.Q5_0);
        assertThat(t.get("blk.0.ffn_down.weight")).isEqualTo(GgmlType.Q4_K);
        Map<String, GgmlType> q6 = decide(QuantizeSettings.of(FileType.Q6_K).withPure(true), DENSE16, dense(2, 96, 256, true));
        assertThat(q6.get("blk.0.attn_q.weight")).isEqualTo(GgmlType.Q8_0);
        Map<String, GgmlType> q5 = decide(QuantizeSettings.of(FileType.Q5_K_S).withPure(true), DENSE16, dense(2, 96, 256, true));
        assertThat(q5.get("blk.0.attn_q.weight")).isEqualTo(GgmlType.Q5_1);
        Map<String, GgmlType> f16 = decide(QuantizeSettings.of(FileType.Q4_K_M).withPure(true), DENSE16, dense(2, 48, 256, true));
        assertThat(f16.get("blk.0.attn_q.weight")).as("Q5_0 does not fit 48 either").isEqualTo(GgmlType.F16);
    }

    @Test
    void legacyTypesHaveNoFallback() {
        // output.weight comes first: Q8_0 for ne0 % 32 != 0, and Q8_0 has no fallback either
        assertThatThrownBy(() -> decide(QuantizeSettings.of(FileType.Q4_0), DENSE16, dense(2, 48, 256, true)))
                .isInstanceOf(QuantizePolicyException.class).hasMessageContaining("no tensor type fallback is defined for type q8_0");
        assertThatThrownBy(() -> decide(QuantizeSettings.of(FileType.Q5_1), DENSE16, List.of(spec("blk.0.attn_q.weight", 48, 48))))
                .isInstanceOf(QuantizePolicyException.class).hasMessageContaining("no tensor type fallback is defined for type q5_1");
    }

    @Test
    void eightExpertsPromoteAttentionAndExpertLayersComeFromNames() {
        ModelFacts moe = new ModelFacts("llama", 4, 8, false);
        List<GgufTensorSpec> t = new ArrayList<>();
        for (int l = 3; l >= 0; l--) {
            t.add(spec("blk." + l + ".attn_v.weight", 256, 256));
            t.add(spec("blk." + l + ".attn_k.weight", 256, 256));
            t.add(spec("blk." + l + ".attn_output.weight", 256, 256));
            t.add(new GgufTensorSpec("blk." + l + ".ffn_down_exps.weight", GgmlType.BF16, new long[] {256, 256, 8}));
        }
        Map<String, GgmlType> k = decide(QuantizeSettings.of(FileType.Q4_K_M), moe, t);
        assertThat(k.get("blk.2.attn_v.weight")).isEqualTo(GgmlType.Q8_0);
        assertThat(k.get("blk.2.attn_k.weight")).isEqualTo(GgmlType.Q8_0);
        assertThat(k.get("blk.2.attn_output.weight")).isEqualTo(GgmlType.Q5_K);
        // use_more_bits(layer, 4): layer 3 (>= 7*4/8) only
        assertThat(k.get("blk.3.ffn_down_exps.weight")).isEqualTo(GgmlType.Q6_K);
        assertThat(k.get("blk.1.ffn_down_exps.weight")).isEqualTo(GgmlType.Q4_K);
        Map<String, GgmlType> mx = decide(QuantizeSettings.of(FileType.MXFP4_MOE), moe, t);
        assertThat(mx.get("blk.0.ffn_down_exps.weight")).isEqualTo(GgmlType.MXFP4);
        assertThat(mx.get("blk.0.attn_q.weight")).isNull();
        assertThat(mx.get("blk.0.attn_output.weight")).isEqualTo(GgmlType.Q8_0);

        List<GgufTensorSpec> bad = List.of(new GgufTensorSpec("blk.9.ffn_down_exps.weight", GgmlType.BF16, new long[] {256, 256, 8}));
        assertThatThrownBy(() -> decide(QuantizeSettings.of(FileType.Q4_K_M), moe, bad)).hasMessageContaining("Bad layer 9");
        List<GgufTensorSpec> unnamed = List.of(new GgufTensorSpec("mtp.ffn_down.weight", GgmlType.BF16, new long[] {256, 256}));
        assertThatThrownBy(() -> decide(QuantizeSettings.of(FileType.Q4_K_M), moe, unnamed))
                .hasMessageContaining("Failed to determine layer for tensor mtp.ffn_down.weight");
    }

    @Test
    void optionsOverrideTheMixtureInLlamaCppsOrder() {
        QuantizeSettings s = QuantizeSettings.of(FileType.Q4_K_M)
                .withTensorTypes(List.of(TensorTypeOverride.parse("attn_v=q8_0"), TensorTypeOverride.parse("attn=q5_0")))
                .withOutputTensorType(GgmlType.F16).withTokenEmbeddingType(GgmlType.Q8_0);
        Map<String, GgmlType> t = decide(s, DENSE16, dense(2, 256, 512, true));
        assertThat(t.get("blk.0.attn_v.weight")).as("first matching pattern wins").isEqualTo(GgmlType.Q8_0);
        assertThat(t.get("blk.0.attn_q.weight")).isEqualTo(GgmlType.Q5_0);
        assertThat(t.get("output.weight")).isEqualTo(GgmlType.F16);
        assertThat(t.get("token_embd.weight")).isEqualTo(GgmlType.Q8_0);
        // attn_v overrides do not count for use_more_bits: the first unmatched attn_v is still i_attention_wv 0
        Map<String, GgmlType> leave = decide(QuantizeSettings.of(FileType.Q4_K_M).withLeaveOutputTensor(true), DENSE16, dense(2, 256, 512, true));
        assertThat(leave.get("output.weight")).isEqualTo(GgmlType.BF16);
    }

    @Test
    void tiedTokenEmbeddingTakesOutputTensorType() {
        Map<String, GgmlType> t = decide(QuantizeSettings.of(FileType.Q4_0).withOutputTensorType(GgmlType.Q5_1), DENSE16, dense(1, 256, 512, false));
        assertThat(t.get("token_embd.weight")).isEqualTo(GgmlType.Q5_1);
    }

    @Test
    void oneDimensionalNormsAndExcludedNamesAreKept() {
        List<GgufTensorSpec> t = List.of(
                new GgufTensorSpec("blk.0.attn_norm.weight", GgmlType.F32, new long[] {256}),
                new GgufTensorSpec("blk.0.ffn_gate_inp.weight", GgmlType.F32, new long[] {256, 8}),
                new GgufTensorSpec("per_layer_model_proj.weight", GgmlType.BF16, new long[] {256, 256}),
                new GgufTensorSpec("blk.0.attn_q_norm.weight", GgmlType.F32, new long[] {256, 4}),
                new GgufTensorSpec("blk.0.rope_freqs", GgmlType.F32, new long[] {256, 4}),
                new GgufTensorSpec("blk.0.attn_q.weight", GgmlType.BF16, new long[] {256, 1, 1}));
        Map<String, GgmlType> d = decide(QuantizeSettings.of(FileType.Q8_0), DENSE16, t);
        assertThat(d.get("blk.0.attn_norm.weight")).isEqualTo(GgmlType.F32);
        assertThat(d.get("blk.0.ffn_gate_inp.weight")).isEqualTo(GgmlType.F32);
        assertThat(d.get("per_layer_model_proj.weight")).isEqualTo(GgmlType.BF16);
        assertThat(d.get("blk.0.attn_q_norm.weight")).isEqualTo(GgmlType.F32);
        assertThat(d.get("blk.0.rope_freqs")).isEqualTo(GgmlType.F32);
        assertThat(d.get("blk.0.attn_q.weight")).as("[256, 1, 1] is 1-D for ggml_n_dims").isEqualTo(GgmlType.BF16);
    }

    @Test
    void categoriesFollowLlamaCppsOrder() {
        assertThat(TensorCategory.of("blk.0.attn_qkv.weight")).isEqualTo(TensorCategory.ATTENTION_QKV);
        assertThat(TensorCategory.of("blk.0.attn_kv_b.weight")).isEqualTo(TensorCategory.ATTENTION_KV_B);
        assertThat(TensorCategory.of("blk.0.ffn_gate_exps.weight")).isEqualTo(TensorCategory.FFN_GATE);
        assertThat(TensorCategory.of("per_layer_token_embd.weight")).isEqualTo(TensorCategory.TOKEN_EMBD);
        assertThat(TensorCategory.of("output.weight")).isEqualTo(TensorCategory.OUTPUT);
        assertThat(TensorCategory.of("blk.0.output.weight")).isEqualTo(TensorCategory.OTHER);
    }

    @Test
    void weightOrderIsLayerThenBytes() {
        List<String> names = new ArrayList<>(List.of("blk.10.a", "blk.9.b", "output.weight", "blk.9.a", "token_embd.weight",
                "blk.-1.x", "blk.x", "blk. 2.z", "output_norm.weight"));
        names.sort(WeightOrder.INSTANCE);
        assertThat(names).containsExactly("blk.-1.x", "blk.x", "output.weight", "output_norm.weight", "token_embd.weight",
                "blk. 2.z", "blk.9.a", "blk.9.b", "blk.10.a");
        assertThat(WeightOrder.scanLayer("blk.x")).isEmpty();
        assertThat(WeightOrder.scanLayer("blk.+7z").getAsInt()).isEqualTo(7);
    }

    @Test
    void fileTypeNamesAsLlamaQuantize() {
        assertThat(FileType.parse("q4_k")).contains(FileType.Q4_K_M);
        assertThat(FileType.parse("Q5_K")).contains(FileType.Q5_K_M);
        assertThat(FileType.parse("15")).contains(FileType.Q4_K_M);
        assertThat(FileType.parse("mxfp4_moe")).contains(FileType.MXFP4_MOE);
        assertThat(FileType.parse("IQ2_XXS")).contains(FileType.IQ2_XXS); // every llama-quantize name is in the table
        assertThat(FileType.parse("q3_k")).contains(FileType.Q3_K_M);
        assertThat(FileType.parse("19")).contains(FileType.IQ2_XXS);
        assertThat(FileType.parse("out.gguf")).isEmpty();
    }

    @Test
    void tensorTypeOptionsParseAsLlamaQuantize() {
        TensorTypeOverride o = TensorTypeOverride.parse("BLK\\.[0-3]\\.ATTN_V=Q6_K");
        assertThat(o.pattern()).isEqualTo("blk\\.[0-3]\\.attn_v");
        assertThat(o.type()).isEqualTo(GgmlType.Q6_K);
        assertThat(o.matches("blk.2.attn_v.weight")).isTrue();
        assertThat(o.matches("blk.12.attn_v.weight")).isFalse();
        assertThatThrownBy(() -> TensorTypeOverride.parse("attn_v")).hasMessageContaining("malformed");
        assertThatThrownBy(() -> TensorTypeOverride.parse("=q8_0")).hasMessageContaining("missing tensor name");
        assertThatThrownBy(() -> TensorTypeOverride.parse("attn_v=")).hasMessageContaining("missing quantization type");
        assertThatThrownBy(() -> TensorTypeOverride.parse("attn_v=q9_9")).hasMessageContaining("invalid ggml type");
    }
}
