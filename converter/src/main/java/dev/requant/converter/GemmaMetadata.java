package dev.requant.converter;

import com.fasterxml.jackson.databind.JsonNode;
import dev.requant.formats.FormatException;
import dev.requant.formats.gguf.GgufArray;
import dev.requant.formats.gguf.GgufMetadata;
import dev.requant.formats.gguf.GgufValue;
import dev.requant.formats.io.InputFiles;
import dev.requant.formats.io.JsonFile;
import java.io.IOException;
import java.nio.file.Path;
import java.util.List;

/**
 * The GGUF key/values of a converted Gemma model, in convert_hf_to_gguf.py's order: general.architecture, general.type,
 * the authorship keys (Metadata.set_gguf_meta_model), the arch keys (TextModel.set_gguf_parameters, then the Gemma3Model
 * and Gemma4Model overrides; gguf-py keeps a re-added key at its first position), general.quantization_version and
 * the tokenizer keys.
 */
final class GemmaMetadata {
    private GemmaMetadata() {}

    static GgufMetadata build(GemmaConfig c, ConversionSettings settings, Vocabulary vocab, List<PlannedTensor> tensors, int ple) throws IOException {
        String a = c.arch().ggufName();
        boolean g4 = c.arch() == GemmaArchitecture.GEMMA4;
        GgufMetadata md = new GgufMetadata();
        md.put("general.architecture", GgufValue.string(a));
        md.put("general.type", GgufValue.string("model"));
        ModelNaming.load(c.dir(), settings.modelName(), parameterCounts(tensors)).writeTo(md);

        // TextModel.set_gguf_parameters
        u32(md, c, a + ".block_count", c.blockCount());
        u32(md, c, a + ".context_length", c.contextLength());
        u32(md, c, a + ".embedding_length", c.embeddingLength());
        u32(md, c, a + ".feed_forward_length", c.hparams().get("intermediate_size").asLong());
        u32(md, c, a + ".attention.head_count", c.headCount());
        u32(md, c, a + ".attention.head_count_kv", c.hparams().get("num_key_value_heads").asLong());
        if (c.hparams().path("is_causal").isBoolean() && !c.hparams().get("is_causal").asBoolean()) {
            md.put(a + ".attention.causal", GgufValue.bool(false));
        }
        GemmaConfig.Rope rope = c.rope();
        if ("linear".equals(rope.fullType()) && rope.factor() != null) {
            md.put(a + ".rope.scaling.type", GgufValue.string("linear"));
            f32(md, c, a + ".rope.scaling.factor", rope.factor());
        }
        f32(md, c, a + ".rope.freq_base", rope.thetaFull());
        if (rope.thetaSwa() != null) f32(md, c, a + ".rope.freq_base_swa", rope.thetaSwa());
        f32(md, c, a + ".attention.layer_norm_rms_epsilon", c.rmsEps());
        if (c.expertCount() != null) u32(md, c, a + ".expert_count", c.expertCount());
        if (c.expertUsedCount() != null) u32(md, c, a + ".expert_used_count", c.expertUsedCount());
        u32(md, c, a + ".attention.key_length", c.hparams().get("head_dim").asLong());
        u32(md, c, a + ".attention.value_length", c.hparams().get("head_dim").asLong());
        u32(md, c, "general.file_type", settings.outType().fileType());

        // Gemma3Model.set_gguf_parameters
        u32(md, c, a + ".context_length", c.contextLength());
        u32(md, c, a + ".attention.head_count", c.headCount());
        f32(md, c, a + ".attention.layer_norm_rms_epsilon", c.rmsEps());
        u32(md, c, a + ".attention.key_length", c.headDimSwa());
        u32(md, c, a + ".attention.value_length", c.headDimSwa());
        f32(md, c, a + ".rope.freq_base", rope.thetaFull());
        if (c.finalLogitSoftcap() != null && c.finalLogitSoftcap() != 0) f32(md, c, a + ".final_logit_softcapping", c.finalLogitSoftcap());
        if (c.slidingWindow() != null) u32(md, c, a + ".attention.sliding_window", c.slidingWindow());
        if (c.kvHeadsPerLayer()) md.put(a + ".attention.head_count_kv", GemmaPlanner.int32Array(c.kvHeads()));
        else u32(md, c, a + ".attention.head_count_kv", c.kvHeads(0));
        if (!g4 && c.feedForwardPerLayer()) md.put(a + ".feed_forward_length", GemmaPlanner.int32Array(c.feedForward()));

        if (g4) {
            // Gemma4Model.set_gguf_parameters
            u32(md, c, a + ".attention.shared_kv_layers", c.sharedKvLayers());
            u32(md, c, a + ".embedding_length_per_layer_input", ple);
            md.put(a + ".attention.sliding_window_pattern", GgufValue.array(GgufArray.ofBool(c.slidingLayers())));
            u32(md, c, a + ".attention.key_length", c.headDimFull());
            u32(md, c, a + ".attention.value_length", c.headDimFull());
            u32(md, c, a + ".attention.key_length_swa", c.headDimSwa());
            u32(md, c, a + ".attention.value_length_swa", c.headDimSwa());
            if (c.expertFeedForward() != null) u32(md, c, a + ".expert_feed_forward_length", c.expertFeedForward());
            if (c.feedForwardPerLayer()) md.put(a + ".feed_forward_length", GemmaPlanner.int32Array(c.feedForward()));
            u32(md, c, a + ".rope.dimension_count", c.headDimFull());
            u32(md, c, a + ".rope.dimension_count_swa", (long) (c.headDimSwa() * rope.partialRotaryTopLevel()));
            if (c.unified()) suppressTokens(c.dir(), md);
        }
        u32(md, c, "general.quantization_version", 2);
        vocab.writeTo(md);
        return md;
    }

    /** Gemma4UnifiedModel: generation_config.json suppress_tokens as an INT32 array (gguf-py skips an empty list). */
    private static void suppressTokens(Path dir, GgufMetadata md) throws IOException {
        Path f = dir.resolve("generation_config.json");
        if (!InputFiles.present(f, "generation config")) return;
        JsonNode n = JsonFile.read(f).get("suppress_tokens");
        if (n == null || n.isNull()) return;
        if (!n.isArray()) throw new FormatException(f, "suppress_tokens must be a list of token ids");
        int[] ids = new int[n.size()];
        for (int i = 0; i < ids.length; i++) {
            if (!n.get(i).canConvertToInt()) throw new FormatException(f, "suppress_tokens[" + i + "] is not a token id");
            ids[i] = n.get(i).asInt();
        }
        if (ids.length > 0) md.put("tokenizer.ggml.suppress_tokens", GemmaPlanner.int32Array(ids));
    }

    /** GGUFWriter.get_total_parameter_count over the planned tensors: total, shared, expert, expert count. */
    static long[] parameterCounts(List<PlannedTensor> tensors) {
        long total = 0, shared = 0, expert = 0, expertSum = 0, nExpertTensors = 0;
        for (PlannedTensor t : tensors) {
            long[] ne = t.recipe().ne();
            long size = t.elementCount();
            if (t.ggufName().contains("_exps.") && ne.length >= 3) {
                long count = t.ggufName().contains(".bias") ? ne[1] : ne[2];
                expert += size / count;
                expertSum += count;
                nExpertTensors++;
            } else {
                shared += size;
            }
            total += size;
        }
        return new long[] {total, shared, expert, nExpertTensors > 0 ? expertSum / nExpertTensors : 0};
    }

    /**
     * The last check of every number that goes into the file: one that does not fit its GGUF type is the config's
     * fault (a value too large for a UINT32, a float32 infinity), reported against config.json instead of failing
     * inside the writer.
     */
    private static void u32(GgufMetadata md, GemmaConfig c, String key, long v) throws FormatException {
        if (v < 0 || v > 0xFFFF_FFFFL) throw c.error(key + " would be " + v + ", which does not fit its GGUF type UINT32");
        md.put(key, GgufValue.u32(v));
    }

    private static void f32(GgufMetadata md, GemmaConfig c, String key, double v) throws FormatException {
        if (!Float.isFinite((float) v)) throw c.error(key + " would be " + v + ", which is not a finite float32");
        md.put(key, GgufValue.f32((float) v));
    }
}
