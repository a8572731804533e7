package dev.requant.testmodels.hostile;

import static dev.requant.testmodels.hostile.HostileCase.convert;
import static dev.requant.testmodels.hostile.HostileCase.inspect;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.io.IOException;
import java.math.BigInteger;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.function.Consumer;

/**
 * A Hugging Face folder whose files disagree with what they must hold: config.json values that are negative, zero,
 * infinite, not numbers or too large for the GGUF field they go into (18.3, 18.7); NaN and infinite weights converted
 * to a quantized type (18.3); a sharded checkpoint's index naming shards outside the folder, with a NUL, or missing
 * (18.7); and broken tokenizer and JSON files.
 */
final class CheckpointCases {
    private CheckpointCases() {}

    private static final ObjectMapper JSON = new ObjectMapper();

    private static HostileCase config(String id, String point, String what, String fragment, Consumer<ObjectNode> edit) {
        return new HostileCase(id, point, what, (dir, base) -> {
            BaseInputs.copy(base.hf(), dir.resolve("hf"));
            Path cfg = dir.resolve("hf/config.json");
            ObjectNode root = (ObjectNode) JSON.readTree(cfg.toFile());
            edit.accept(root);
            Files.writeString(cfg, JSON.writeValueAsString(root));
        }, List.of(convert("{dir}/hf", "bf16").expecting(fragment)));
    }

    /** config.json replaced by {@code text} as it is (not necessarily JSON). */
    private static HostileCase configText(String id, String what, String text) {
        return new HostileCase(id, "base", what, (dir, base) -> {
            BaseInputs.copy(base.hf(), dir.resolve("hf"));
            Files.writeString(dir.resolve("hf/config.json"), text);
        }, List.of(convert("{dir}/hf", "bf16")));
    }

    private static void set(ObjectNode root, String path, Object v) {
        String[] parts = path.split("\\.");
        ObjectNode o = root;
        for (int i = 0; i < parts.length - 1; i++) o = (ObjectNode) o.get(parts[i]);
        String k = parts[parts.length - 1];
        switch (v) {
            case null -> o.putNull(k);
            case Integer n -> o.put(k, n);
            case Long n -> o.put(k, n);
            case Double d -> o.put(k, d);
            case BigInteger b -> o.put(k, b);
            case java.math.BigDecimal b -> o.put(k, b);
            case String s -> o.put(k, s);
            case Boolean b -> o.put(k, b);
            case JsonNode n -> o.set(k, n);
            default -> throw new IllegalArgumentException(v.toString());
        }
    }

    static List<HostileCase> cases() {
        List<HostileCase> c = new ArrayList<>();
        java.math.BigDecimal e400 = new java.math.BigDecimal("1e400");
        record V(String key, String label, Object value, String fragment) {}
        List<V> values = List.of(
                new V("rope_parameters.full_attention.rope_theta", "-1", -1.0, "rope_theta"),
                new V("rope_parameters.full_attention.rope_theta", "0", 0.0, "rope_theta"),
                new V("rope_parameters.full_attention.rope_theta", "abc", "abc", "rope_theta"),
                new V("rope_parameters.full_attention.rope_theta", "1e400", e400, "rope_theta"),
                new V("rope_parameters.full_attention.rope_theta", "true", true, "rope_theta"),
                new V("rope_parameters.sliding_attention.rope_theta", "-1", -1.0, "rope_theta"),
                new V("rope_parameters.sliding_attention.rope_theta", "abc", "abc", "rope_theta"),
                new V("rope_parameters.sliding_attention.rope_theta", "1e400", e400, "rope_theta"),
                new V("rope_parameters.sliding_attention.rope_theta", "1e39", 1e39, "rope_theta"),
                new V("rms_norm_eps", "-1", -1.0, "rms_norm_eps"),
                new V("rms_norm_eps", "0", 0.0, "rms_norm_eps"),
                new V("rms_norm_eps", "1e400", e400, "rms_norm_eps"),
                new V("rms_norm_eps", "1e-50", 1e-50, "rms_norm_eps"),
                new V("rms_norm_eps", "x", "x", "rms_norm_eps"),
                new V("max_position_embeddings", "2^32", 1L << 32, "max_position_embeddings"),
                new V("max_position_embeddings", "-1", -1, "max_position_embeddings"),
                new V("max_position_embeddings", "1.5", 1.5, "max_position_embeddings"),
                new V("sliding_window", "2^32", 1L << 32, "sliding_window"),
                new V("sliding_window", "0", 0, "sliding_window"),
                new V("sliding_window", "x", "x", "sliding_window"),
                new V("final_logit_softcapping", "-1", -1.0, "final_logit_softcapping"),
                new V("final_logit_softcapping", "x", "x", "final_logit_softcapping"),
                new V("final_logit_softcapping", "1e400", e400, "final_logit_softcapping"),
                new V("num_attention_heads", "0", 0, "num_attention_heads"),
                new V("num_attention_heads", "2^31", 1L << 31, "num_attention_heads"),
                new V("head_dim", "2^32", 1L << 32, "head_dim"),
                new V("head_dim", "0", 0, "head_dim"),
                new V("hidden_size", "2^32", 1L << 32, "hidden_size"),
                new V("hidden_size", "65", 65, null),
                new V("intermediate_size", "2^40", 1L << 40, "intermediate_size"),
                new V("intermediate_size", "-128", -128, "intermediate_size"),
                new V("num_hidden_layers", "0", 0, "num_hidden_layers"),
                new V("num_hidden_layers", "2", 2, null),
                new V("num_hidden_layers", "2^31", 1L << 31, "num_hidden_layers"),
                new V("num_key_value_heads", "0", 0, "num_key_value_heads"),
                new V("num_key_value_heads", "2^32", 1L << 32, "num_key_value_heads"),
                new V("vocab_size", "2^33", 1L << 33, "vocab_size"),
                new V("rope_parameters", "x", "x", "rope"),
                new V("rope_parameters.full_attention.rope_type", "yarn", "yarn", "rope type"),
                new V("layer_types", "[]", JSON.createArrayNode(), "layer_types"),
                new V("architectures", "[]", JSON.createArrayNode(), "architectures"),
                new V("architectures", "[\"LlamaForCausalLM\"]", JSON.createArrayNode().add("LlamaForCausalLM"), "not supported"),
                new V("architectures", "[1]", JSON.createArrayNode().add(1), "architectures"),
                new V("hidden_activation", "relu", "relu", "hidden_activation"));
        for (V v : values) {
            String point = v.key().contains("rope_theta") || v.key().equals("rms_norm_eps") || v.key().equals("final_logit_softcapping") ? "18.3"
                    : v.label().startsWith("2^3") || v.label().startsWith("2^4") ? "18.7" : "base";
            c.add(config("config-" + v.key().replace("rope_parameters.", "rope.").replace('_', '-') + "=" + v.label().replace("^", "e").replace("[", "").replace("]", "").replace("\"", ""),
                    point, "config.json " + v.key() + " = " + v.label(), v.fragment(), root -> set(root, v.key(), v.value())));
        }
        c.add(configText("config-not-json", "config.json is not JSON", "{\"architectures\": ["));
        c.add(configText("config-empty", "config.json is empty", ""));
        c.add(configText("config-array", "config.json is a list", "[1, 2, 3]"));
        c.add(configText("config-nested-deep", "config.json nested 100000 deep", "[".repeat(100_000) + "]".repeat(100_000)));
        c.add(configText("config-nested-object-deep", "config.json objects nested 50000 deep", "{\"a\":".repeat(50_000) + "1" + "}".repeat(50_000)));
        c.add(new HostileCase("config-1gib", "18.2", "config.json of 1 GiB (sparse)", (dir, base) -> {
            BaseInputs.copy(base.hf(), dir.resolve("hf"));
            Path cfg = dir.resolve("hf/config.json");
            Files.writeString(cfg, "{\"architectures\": [\"Gemma3ForCausalLM\"], \"x\": \"");
            Bytes.extendSparse(cfg, 1L << 30);
        }, List.of(convert("{dir}/hf", "bf16").expecting("at most"))));
        c.add(new HostileCase("config-missing", "base", "no config.json", (dir, base) -> {
            BaseInputs.copy(base.hf(), dir.resolve("hf"));
            Files.delete(dir.resolve("hf/config.json"));
        }, List.of(convert("{dir}/hf", "bf16").expecting("config.json"))));

        // 18.3: NaN and infinities in weights that go into a quantized type
        String w = "model.layers.0.mlp.down_proj.weight";
        record Bad(String label, short bits) {}
        for (Bad b : List.of(new Bad("nan", (short) 0x7FC0), new Bad("inf", (short) 0x7F80), new Bad("minus-inf", (short) 0xFF80))) {
            for (String type : List.of("q8_0", "q4_0")) {
                for (String tensor : List.of(w, "model.embed_tokens.weight", "model.layers.0.self_attn.q_proj.weight")) {
                    c.add(new HostileCase("weights-" + b.label() + "-" + type + "-" + tensor.replace("model.", "").replace('.', '-'), "18.3",
                            tensor + " element 5 is " + b.label() + ", converted to " + type, (dir, base) -> {
                                BaseInputs.copy(base.hf(), dir.resolve("hf"));
                                Path f = dir.resolve("hf/model.safetensors");
                                SafetensorsCases.Parts p = SafetensorsCases.Parts.read(f);
                                long dataStart = Files.size(f) - p.data().length;
                                Bytes.putI16(f, dataStart + p.begin(tensor) + 2 * 5, b.bits());
                            }, List.of(convert("{dir}/hf", type).expecting(tensor))));
                }
            }
        }

        // the index of a sharded checkpoint
        c.add(index("index-not-json", "base", "index is not JSON", null, text -> "{\"weight_map\": "));
        c.add(index("index-no-weight-map", "base", "index without weight_map", "weight_map", text -> "{\"metadata\": {}}"));
        c.add(index("index-weight-map-array", "base", "weight_map is a list", "weight_map", text -> "{\"weight_map\": [1]}"));
        c.add(index("index-shard-number", "base", "a shard name is a number", null, text -> text.replaceFirst("\"model-00001-of-00003.safetensors\"", "7")));
        c.add(index("index-shard-missing", "base", "names a shard that is not there", "missing",
                text -> text.replaceFirst("model-00002-of-00003", "model-00009-of-00009")));
        c.add(index("index-shard-nul", "18.7", "a shard name with a NUL byte", null, text -> text.replaceFirst("model-00002-of-00003", "model-00002\\\\u0000-of-00003")));
        c.add(index("index-shard-parent", "base", "a shard ../outside.safetensors", "outside", text -> text.replaceFirst("model-00002-of-00003", "../../etc/model")));
        c.add(index("index-shard-absolute", "base", "a shard /etc/passwd", "outside", text -> text.replaceFirst("model-00002-of-00003.safetensors", "/etc/passwd")));
        c.add(index("index-tensor-extra", "base", "lists a tensor no shard has", "lists tensor",
                text -> text.replaceFirst("\"weight_map\"\\s*:\\s*\\{", "\"weight_map\": {\"model.extra.weight\": \"model-00001-of-00003.safetensors\",")));
        c.add(index("index-tensor-wrong-shard", "base", "puts a tensor in the wrong shard", null,
                text -> text.replaceFirst("(\"model.embed_tokens.weight\"\\s*:\\s*\")model-0000\\d", "$1model-00003")));
        // 18.7: a shard that is a symbolic link out of the folder (to a valid shard, and to a file that is no shard)
        c.add(new HostileCase("shard-symlink-outside", "18.7", "a shard is a symlink to a valid shard outside the folder", (dir, base) -> {
            BaseInputs.copy(base.hfSharded(), dir.resolve("hf"));
            Files.createDirectories(dir.resolve("elsewhere"));
            Path shard = dir.resolve("hf/model-00002-of-00003.safetensors");
            Files.move(shard, dir.resolve("elsewhere/x.safetensors"));
            Files.createSymbolicLink(shard, dir.resolve("elsewhere/x.safetensors"));
        }, List.of(convert("{dir}/hf", "bf16").expecting("outside the model folder"), inspect("{dir}/hf").expecting("outside the model folder"))));
        c.add(new HostileCase("shard-symlink-secret", "18.7", "a shard is a symlink to a file that is not safetensors", (dir, base) -> {
            BaseInputs.copy(base.hf(), dir.resolve("hf"));
            Files.writeString(dir.resolve("secret.txt"), "hunter2-hunter2-hunter2 the secret");
            Path shard = dir.resolve("hf/model.safetensors");
            Files.delete(shard);
            Files.createSymbolicLink(shard, dir.resolve("secret.txt"));
        }, List.of(convert("{dir}/hf", "bf16").expecting("outside the model folder"), inspect("{dir}/hf").expecting("outside the model folder"))));
        c.add(new HostileCase("config-symlink-secret", "18.7", "config.json is a symlink to a file outside the folder", (dir, base) -> {
            BaseInputs.copy(base.hf(), dir.resolve("hf"));
            Files.writeString(dir.resolve("secret.txt"), "hunter2 the secret");
            Files.delete(dir.resolve("hf/config.json"));
            Files.createSymbolicLink(dir.resolve("hf/config.json"), dir.resolve("secret.txt"));
        }, List.of(convert("{dir}/hf", "bf16").expecting("outside the model folder"))));
        // the Hugging Face cache layout links every file into ../../blobs: that must keep working (a control)
        c.add(new HostileCase("control-hf-cache-layout", "control", "snapshot folder whose files link to ../../blobs", (dir, base) -> {
            Path snap = Files.createDirectories(dir.resolve("models--google--tiny/snapshots/0123abcd"));
            Path blobs = Files.createDirectories(dir.resolve("models--google--tiny/blobs"));
            try (var s = Files.list(base.hfSharded())) {
                for (Path f : s.toList()) {
                    Path blob = blobs.resolve(Integer.toHexString(f.getFileName().toString().hashCode()));
                    Files.copy(f, blob);
                    Files.createSymbolicLink(snap.resolve(f.getFileName().toString()), Path.of("../../blobs").resolve(blob.getFileName()));
                }
            }
        }, List.of(HostileCase.accept("convert", "{dir}/models--google--tiny/snapshots/0123abcd", "-o", "{dir}/out/m.gguf", "--type", "bf16", "--no-progress"),
                HostileCase.accept("inspect", "{dir}/models--google--tiny/snapshots/0123abcd"))));

        // tokenizer files
        c.add(tokenizer("tokenizer-model-empty", "tokenizer.model is empty", f -> Files.write(f, new byte[0])));
        c.add(tokenizer("tokenizer-model-truncated", "tokenizer.model cut in half", f -> Bytes.truncate(f, Files.size(f) / 2)));
        c.add(tokenizer("tokenizer-model-garbage", "tokenizer.model is text", f -> Files.writeString(f, "this is not a protobuf ".repeat(100))));
        c.add(tokenizer("tokenizer-model-varint-huge", "tokenizer.model starts with a field of length 2^62", f -> Files.write(f,
                new byte[] {0x0a, (byte) 0xff, (byte) 0xff, (byte) 0xff, (byte) 0xff, (byte) 0xff, (byte) 0xff, (byte) 0xff, (byte) 0xff, 0x3f})));
        c.add(new HostileCase("tokenizer-config-not-json", "base", "tokenizer_config.json is not JSON", (dir, base) -> {
            BaseInputs.copy(base.hf(), dir.resolve("hf"));
            Files.writeString(dir.resolve("hf/tokenizer_config.json"), "{\"chat_template\": ");
        }, List.of(convert("{dir}/hf", "bf16"))));
        return c;
    }

    private interface TextEdit {
        String apply(String text);
    }

    private static HostileCase index(String id, String point, String what, String fragment, TextEdit edit) {
        return new HostileCase(id, point, what, (dir, base) -> {
            BaseInputs.copy(base.hfSharded(), dir.resolve("hf"));
            Path index = dir.resolve("hf/model.safetensors.index.json");
            Files.writeString(index, edit.apply(Files.readString(index)));
        }, List.of(convert("{dir}/hf", "bf16").expecting(fragment), inspect("{dir}/hf").expecting(fragment)));
    }

    private interface FileEdit {
        void apply(Path file) throws IOException;
    }

    private static HostileCase tokenizer(String id, String what, FileEdit edit) {
        return new HostileCase(id, "base", what, (dir, base) -> {
            BaseInputs.copy(base.hf(), dir.resolve("hf"));
            edit.apply(dir.resolve("hf/tokenizer.model"));
        }, List.of(convert("{dir}/hf", "bf16").expecting("tokenizer.model")));
    }
}
