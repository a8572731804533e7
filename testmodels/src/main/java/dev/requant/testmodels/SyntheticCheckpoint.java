package dev.requant.testmodels;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.SerializationFeature;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.requant.formats.ggml.BFloat16;
import dev.requant.formats.ggml.Float16;
import dev.requant.formats.safetensors.SafetensorsDtype;
import dev.requant.formats.safetensors.SafetensorsWriter;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Comparator;

import java.util.List;
import java.util.Map;
import java.util.function.UnaryOperator;

/**
 * A deterministic synthetic Hugging Face checkpoint of a Gemma 3 or Gemma 4 text model: config.json (a full
 * transformers-5 style config, or a sparse multimodal one relying on class defaults, with vision tensors),
 * tokenizer.model (the golden SentencePiece model, 1024 tokens) or a tokenizer.json derived from it,
 * tokenizer_config.json, generation_config.json, and safetensors shards with an index. Tensors are generated and written
 * in pieces, so the heap use does not depend on the checkpoint size (an 8 GB checkpoint needs no more memory than a
 * tiny one).
 *
 * <pre>{@code
 * Path dir = SyntheticCheckpoint.gemma3().layers(4).hiddenSize(512).maxShardBytes(8 << 20).write(tmp.resolve("m"));
 * }</pre>
 *
 * Extension points: {@link Builder#weights} (the values, per tensor) and {@link Builder#tensors} (add, drop or replace
 * tensor specs, e.g. NVFP4-packed weights with their scales, written by a generator's {@code fillBytes}).
 */
public final class SyntheticCheckpoint {
    private static final ObjectMapper JSON = new ObjectMapper().enable(SerializationFeature.INDENT_OUTPUT);
    private static final int PIECE = 1 << 20;

    public enum Family { GEMMA3, GEMMA4, GEMMA4_UNIFIED }

    /** FULL: every key, as transformers 5 saves it. SPARSE_MULTIMODAL: the released ...ForConditionalGeneration layout. */
    public enum ConfigStyle { FULL, SPARSE_MULTIMODAL }

    private SyntheticCheckpoint() {}

    public static Builder gemma3() { return new Builder(Family.GEMMA3); }

    public static Builder gemma4() { return new Builder(Family.GEMMA4); }

    public static Builder gemma4Unified() { return new Builder(Family.GEMMA4_UNIFIED); }

    public static final class Builder {
        final Family family;
        int hidden = 256, ff = 512, layers = 6, heads = 4, kvHeads = 2, headDim = 64, globalHeadDim = 128, vocab = 1024;
        int ple = 0, slidingWindow = 32, sharedKv = 0, experts = 0, topK = 0, moeFf = 0;
        Integer globalKvHeads = null;
        boolean kEqV = false, doubleWide = false, tokenizerJson = false, lmHead = false, perLayerConfig = true;
        Double finalSoftcap = null;
        long maxShardBytes = Long.MAX_VALUE;
        long seed = 1;
        SafetensorsDtype dtype = SafetensorsDtype.BF16;
        ConfigStyle style = ConfigStyle.FULL;
        WeightGenerator weights;
        UnaryOperator<List<SyntheticTensor>> tensorEdit = UnaryOperator.identity();
        UnaryOperator<ObjectNode> configEdit = UnaryOperator.identity();

        Builder(Family f) {
            this.family = f;
            if (f != Family.GEMMA3) finalSoftcap = 30.0;
        }

        public Builder hiddenSize(int v) { hidden = v; return this; }
        public Builder intermediateSize(int v) { ff = v; return this; }
        public Builder layers(int v) { layers = v; return this; }
        public Builder heads(int v) { heads = v; return this; }
        public Builder kvHeads(int v) { kvHeads = v; return this; }
        public Builder headDim(int v) { headDim = v; return this; }
        /** Gemma 4: head dim of the full-attention layers. */
        public Builder globalHeadDim(int v) { globalHeadDim = v; return this; }
        /** Gemma 4: write global_head_dim instead of per_layer_config overrides. */
        public Builder globalHeadDimKey() { perLayerConfig = false; return this; }
        /** Gemma 4 per-layer embeddings width (0 = none). */
        public Builder perLayerInput(int v) { ple = v; return this; }
        public Builder slidingWindow(int v) { slidingWindow = v; return this; }
        /** Gemma 4: the last n layers reuse earlier layers' K/V. */
        public Builder sharedKvLayers(int n) { sharedKv = n; return this; }
        /** Gemma 4: full layers have no v_proj and use num_global_key_value_heads K/V heads. */
        public Builder kEqV(int globalKv) { kEqV = true; globalKvHeads = globalKv; return this; }
        public Builder doubleWideMlp() { doubleWide = true; return this; }
        /** Gemma 4 MoE block in every layer. */
        public Builder moe(int experts, int topK, int ff) { this.experts = experts; this.topK = topK; this.moeFf = ff; return this; }
        public Builder finalLogitSoftcapping(Double v) { finalSoftcap = v; return this; }
        public Builder dtype(SafetensorsDtype d) { dtype = d; return this; }
        /** Split into shards of at most this many bytes (with model.safetensors.index.json). */
        public Builder maxShardBytes(long v) { maxShardBytes = v; return this; }
        public Builder style(ConfigStyle s) { style = s; return this; }
        public Builder seed(long s) { seed = s; return this; }
        public Builder weights(WeightGenerator g) { weights = g; return this; }
        /** Gemma 4: ship tokenizer.json (BPE with merges derived from the SentencePiece model) instead of tokenizer.model. */
        public Builder tokenizerJson() { tokenizerJson = true; return this; }
        /** An untied lm_head.weight. */
        public Builder lmHead() { lmHead = true; return this; }
        /** Edits the tensor list before writing (add, remove, rename, change dtypes). */
        public Builder tensors(UnaryOperator<List<SyntheticTensor>> edit) { tensorEdit = edit; return this; }
        /** Edits config.json before writing. */
        public Builder config(UnaryOperator<ObjectNode> edit) { configEdit = edit; return this; }

        boolean g4() { return family != Family.GEMMA3; }

        /** The checkpoint's tensors, in the order they are written. */
        public List<SyntheticTensor> tensorList() {
            List<SyntheticTensor> t = new ArrayList<>();
            boolean mm = style == ConfigStyle.SPARSE_MULTIMODAL;
            String p = mm ? "model.language_model." : "model.";
            int h = mm && family == Family.GEMMA3 ? 8 : heads, kv = mm && family == Family.GEMMA3 ? 4 : kvHeads, hd = mm && family == Family.GEMMA3 ? 256 : headDim;
            t.add(tensor(p + "embed_tokens.weight", vocab, hidden));
            if (g4() && ple > 0) {
                t.add(tensor(p + "embed_tokens_per_layer.weight", vocab, (long) layers * ple));
                t.add(tensor(p + "per_layer_model_projection.weight", (long) layers * ple, hidden));
                t.add(tensor(p + "per_layer_projection_norm.weight", ple));
            }
            for (int i = 0; i < layers; i++) {
                String l = p + "layers." + i + ".";
                boolean full = isFull(i);
                int d = g4() && full ? globalHeadDim : hd;
                int k = g4() && full && globalKvHeads != null ? globalKvHeads : kv;
                boolean hasKv = i < layers - sharedKv;
                int f = doubleWide && !hasKv ? 2 * ff : ff;
                t.add(tensor(l + "input_layernorm.weight", hidden));
                t.add(tensor(l + "post_attention_layernorm.weight", hidden));
                t.add(tensor(l + "pre_feedforward_layernorm.weight", hidden));
                t.add(tensor(l + "post_feedforward_layernorm.weight", hidden));
                t.add(tensor(l + "self_attn.q_proj.weight", (long) h * d, hidden));
                t.add(tensor(l + "self_attn.q_norm.weight", d));
                t.add(tensor(l + "self_attn.o_proj.weight", hidden, (long) h * d));
                if (hasKv) {
                    t.add(tensor(l + "self_attn.k_proj.weight", (long) k * d, hidden));
                    t.add(tensor(l + "self_attn.k_norm.weight", d));
                    if (!(kEqV && full)) t.add(tensor(l + "self_attn.v_proj.weight", (long) k * d, hidden));
                }
                t.add(tensor(l + "mlp.gate_proj.weight", f, hidden));
                t.add(tensor(l + "mlp.up_proj.weight", f, hidden));
                t.add(tensor(l + "mlp.down_proj.weight", hidden, f));
                if (g4()) {
                    t.add(tensor(l + "layer_scalar", 1));
                    if (ple > 0) {
                        t.add(tensor(l + "per_layer_input_gate.weight", ple, hidden));
                        t.add(tensor(l + "per_layer_projection.weight", hidden, ple));
                        t.add(tensor(l + "post_per_layer_input_norm.weight", hidden));
                    }
                    if (experts > 0) {
                        t.add(tensor(l + "router.proj.weight", experts, hidden));
                        t.add(tensor(l + "router.scale", hidden));
                        t.add(tensor(l + "router.per_expert_scale", experts));
                        t.add(tensor(l + "experts.gate_up_proj", experts, 2L * moeFf, hidden));
                        t.add(tensor(l + "experts.down_proj", experts, hidden, moeFf));
                        t.add(tensor(l + "pre_feedforward_layernorm_2.weight", hidden));
                        t.add(tensor(l + "post_feedforward_layernorm_1.weight", hidden));
                        t.add(tensor(l + "post_feedforward_layernorm_2.weight", hidden));
                    }
                }
            }
            t.add(tensor(p + "norm.weight", hidden));
            if (lmHead) t.add(tensor(mm ? "lm_head.weight" : "lm_head.weight", vocab, hidden));
            if (mm) {
                if (family == Family.GEMMA3) {
                    t.add(tensor("vision_tower.vision_model.embeddings.patch_embedding.weight", 16, 3, 4, 4));
                    t.add(tensor("vision_tower.vision_model.post_layernorm.weight", 16));
                    t.add(tensor("multi_modal_projector.mm_input_projection_weight", 16, hidden));
                    t.add(tensor("multi_modal_projector.mm_soft_emb_norm.weight", 16));
                } else {
                    t.add(tensor("model.vision_tower.encoder.layers.0.mlp.fc1.weight", 32, 16));
                    t.add(tensor("model.audio_tower.layers.0.feed_forward.weight", 32, 16));
                    t.add(tensor("model.embed_vision.embedding_projection.weight", hidden, 16));
                    t.add(tensor("model.embed_audio.embedding_projection.weight", hidden, 16));
                }
            }
            return tensorEdit.apply(t);
        }

        boolean isFull(int i) {
            return family == Family.GEMMA3 ? i % 6 == 5 : ((i + 1) % 6 == 0 || i == layers - 1);
        }

        private SyntheticTensor tensor(String name, long... shape) {
            return new SyntheticTensor(name, shape, dtype, g4());
        }

        public long totalBytes() {
            long n = 0;
            for (SyntheticTensor t : tensorList()) n += t.byteSize();
            return n;
        }

        /** Writes the folder (created if needed) and returns it. */
        public Path write(Path dir) throws IOException {
            Files.createDirectories(dir);
            writeJson(dir.resolve("config.json"), configJson());
            writeTokenizer(dir);
            writeJson(dir.resolve("generation_config.json"), JSON.createObjectNode().put("bos_token_id", 2).put("eos_token_id", 1)
                    .put("pad_token_id", 0).put("transformers_version", "5.17.0"));
            writeShards(dir);
            return dir;
        }

        ObjectNode configJson() {
            ObjectNode text = JSON.createObjectNode();
            String cls = switch (family) {
                case GEMMA3 -> style == ConfigStyle.FULL ? "Gemma3ForCausalLM" : "Gemma3ForConditionalGeneration";
                case GEMMA4 -> style == ConfigStyle.FULL ? "Gemma4ForCausalLM" : "Gemma4ForConditionalGeneration";
                case GEMMA4_UNIFIED -> style == ConfigStyle.FULL ? "Gemma4UnifiedForCausalLM" : "Gemma4UnifiedForConditionalGeneration";
            };
            if (style == ConfigStyle.SPARSE_MULTIMODAL && family == Family.GEMMA3) {
                // like google/gemma-3-4b-it: everything else comes from Gemma3TextConfig defaults
                text.put("hidden_size", hidden).put("intermediate_size", ff).put("model_type", "gemma3_text").put("num_hidden_layers", layers)
                        .put("sliding_window", slidingWindow).put("vocab_size", vocab);
                text.putObject("rope_scaling").put("factor", 8.0).put("rope_type", "linear");
                ObjectNode root = JSON.createObjectNode();
                root.putArray("architectures").add(cls);
                root.put("boi_token_index", 255999).put("eoi_token_index", 256000);
                root.putArray("eos_token_id").add(1).add(106);
                root.put("image_token_index", 262144).put("model_type", "gemma3");
                root.set("text_config", text);
                root.putObject("vision_config").put("hidden_size", 16).put("model_type", "siglip_vision_model");
                return configEdit.apply(root);
            }
            text.putArray("architectures").add(cls);
            text.put("bos_token_id", 2).put("eos_token_id", 1).put("pad_token_id", 0);
            text.put("head_dim", headDim).put("hidden_activation", "gelu_pytorch_tanh").put("hidden_size", hidden)
                    .put("intermediate_size", ff).put("max_position_embeddings", 2048).put("num_attention_heads", heads)
                    .put("num_hidden_layers", layers).put("num_key_value_heads", kvHeads).put("rms_norm_eps", 1e-6)
                    .put("sliding_window", slidingWindow).put("tie_word_embeddings", !lmHead).put("vocab_size", vocab)
                    .put("dtype", dtype == SafetensorsDtype.BF16 ? "bfloat16" : dtype == SafetensorsDtype.F16 ? "float16" : "float32");
            if (finalSoftcap == null) text.putNull("final_logit_softcapping");
            else text.put("final_logit_softcapping", finalSoftcap);
            ArrayNode types = text.putArray("layer_types");
            for (int i = 0; i < layers; i++) types.add(isFull(i) ? "full_attention" : "sliding_attention");
            ObjectNode rope = text.putObject("rope_parameters");
            if (family == Family.GEMMA3) {
                text.put("model_type", "gemma3_text").put("query_pre_attn_scalar", headDim).putNull("attn_logit_softcapping");
                rope.putObject("full_attention").put("rope_theta", 1_000_000.0).put("rope_type", "default");
                rope.putObject("sliding_attention").put("rope_theta", 10_000.0).put("rope_type", "default");
            } else {
                text.put("model_type", family == Family.GEMMA4 ? "gemma4_text" : "gemma4_unified_text");
                rope.putObject("full_attention").put("partial_rotary_factor", 0.25).put("rope_theta", 1_000_000.0).put("rope_type", "proportional");
                rope.putObject("sliding_attention").put("rope_theta", 10_000.0).put("rope_type", "default");
                text.put("attention_k_eq_v", kEqV);
                if (globalKvHeads != null) text.put("num_global_key_value_heads", globalKvHeads);
                else text.putNull("num_global_key_value_heads");
                text.put("num_kv_shared_layers", sharedKv).put("use_double_wide_mlp", doubleWide);
                if (family == Family.GEMMA4) text.put("hidden_size_per_layer_input", ple).put("vocab_size_per_layer_input", vocab);
                text.put("enable_moe_block", experts > 0);
                if (experts > 0) text.put("num_experts", experts).put("top_k_experts", topK).put("moe_intermediate_size", moeFf);
                else text.putNull("num_experts").putNull("top_k_experts").putNull("moe_intermediate_size");
                if (perLayerConfig) {
                    ObjectNode plc = text.putObject("per_layer_config");
                    for (int i = 0; i < layers; i++) if (isFull(i)) plc.putObject(Integer.toString(i)).put("head_dim", globalHeadDim);
                } else {
                    text.put("global_head_dim", globalHeadDim);
                }
            }
            text.put("transformers_version", "5.17.0");
            if (style == ConfigStyle.SPARSE_MULTIMODAL) {
                ObjectNode root = JSON.createObjectNode();
                root.putArray("architectures").add(cls);
                text.remove("architectures");
                root.put("model_type", family == Family.GEMMA4 ? "gemma4" : "gemma4_unified");
                root.set("text_config", text);
                root.putObject("vision_config").put("hidden_size", 16);
                root.putObject("audio_config").put("hidden_size", 16);
                return configEdit.apply(root);
            }
            return configEdit.apply(text);
        }

        private void writeTokenizer(Path dir) throws IOException {
            Path golden = Golden.hf("gemma3-tiny");
            if (tokenizerJson && g4()) {
                writeJson(dir.resolve("tokenizer.json"), TokenizerJsonFromSentencePiece.convert(golden.resolve("tokenizer.model")));
            } else {
                Files.copy(golden.resolve("tokenizer.model"), dir.resolve("tokenizer.model"), java.nio.file.StandardCopyOption.REPLACE_EXISTING);
            }
            Files.copy(golden.resolve("tokenizer_config.json"), dir.resolve("tokenizer_config.json"), java.nio.file.StandardCopyOption.REPLACE_EXISTING);
        }

        private void writeShards(Path dir) throws IOException {
            List<SyntheticTensor> all = tensorList();
            List<List<SyntheticTensor>> shards = new ArrayList<>();
            List<SyntheticTensor> cur = new ArrayList<>();
            long size = 0;
            for (SyntheticTensor t : all) {
                if (!cur.isEmpty() && size + t.byteSize() > maxShardBytes) {
                    shards.add(cur);
                    cur = new ArrayList<>();
                    size = 0;
                }
                cur.add(t);
                size += t.byteSize();
            }
            if (!cur.isEmpty()) shards.add(cur);
            WeightGenerator gen = weights != null ? weights : WeightGenerator.hashed(seed);
            if (shards.size() == 1) {
                writeShard(dir.resolve("model.safetensors"), shards.getFirst(), gen);
                return;
            }
            ObjectNode index = JSON.createObjectNode();
            long total = 0;
            for (SyntheticTensor t : all) total += t.byteSize();
            index.putObject("metadata").put("total_size", total);
            ObjectNode map = index.putObject("weight_map");
            Map<String, String> sorted = new java.util.TreeMap<>();
            for (int s = 0; s < shards.size(); s++) {
                String name = String.format("model-%05d-of-%05d.safetensors", s + 1, shards.size());
                writeShard(dir.resolve(name), shards.get(s), gen);
                for (SyntheticTensor t : shards.get(s)) sorted.put(t.name(), name);
            }
            sorted.forEach(map::put);
            writeJson(dir.resolve("model.safetensors.index.json"), index);
        }

        private static void writeShard(Path file, List<SyntheticTensor> tensors, WeightGenerator gen) throws IOException {
            List<SyntheticTensor> order = new ArrayList<>(tensors);
            order.sort(Comparator.comparing(SyntheticTensor::name));
            List<SafetensorsWriter.Spec> specs = order.stream().map(t -> new SafetensorsWriter.Spec(t.name(), t.dtype(), t.shape())).toList();
            float[] values = new float[PIECE];
            ByteBuffer buf = ByteBuffer.allocateDirect(PIECE * 8).order(ByteOrder.LITTLE_ENDIAN);
            try (SafetensorsWriter w = SafetensorsWriter.create(file, Map.of("format", "pt"), specs)) {
                for (SyntheticTensor t : order) {
                    try (SafetensorsWriter.TensorSink sink = w.beginTensor(t.name())) {
                        if (!isFloat(t.dtype())) {
                            for (long b = 0; b < t.byteSize(); b += buf.capacity()) {
                                buf.clear().limit((int) Math.min(buf.capacity(), t.byteSize() - b));
                                gen.fillBytes(t, b, buf);
                                buf.flip();
                                sink.write(buf);
                            }
                            continue;
                        }
                        long n = t.elementCount();
                        for (long e = 0; e < n; e += PIECE) {
                            int c = (int) Math.min(PIECE, n - e);
                            gen.fill(t, e, values, c);
                            buf.clear();
                            for (int i = 0; i < c; i++) {
                                switch (t.dtype()) {
                                    case BF16 -> buf.putShort(BFloat16.fromFloat(values[i]));
                                    case F16 -> buf.putShort(Float16.fromFloat(values[i]));
                                    case F32 -> buf.putFloat(values[i]);
                                    default -> throw new IllegalStateException();
                                }
                            }
                            buf.flip();
                            sink.write(buf);
                        }
                    }
                }
                w.commit();
            }
        }

        private static boolean isFloat(SafetensorsDtype d) {
            return d == SafetensorsDtype.BF16 || d == SafetensorsDtype.F16 || d == SafetensorsDtype.F32;
        }
    }

    static void writeJson(Path file, Object node) throws IOException {
        Files.writeString(file, JSON.writeValueAsString(node));
    }

}
