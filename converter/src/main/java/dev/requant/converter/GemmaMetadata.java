package dev.requant.converter;

import com.fasterxml.jackson.databind.JsonNode;
import dev.requant.formats.FormatException;
import dev.requant.formats.gguf.GgufArray;
import dev.requant.formats.gguf.GgufKeys;
import dev.requant.formats.gguf.GgufKeys.Attention;
import dev.requant.formats.gguf.GgufKeys.General;
import dev.requant.formats.gguf.GgufKeys.LLM;
import dev.requant.formats.gguf.GgufKeys.Rope;
import dev.requant.formats.gguf.GgufMetadata;
import dev.requant.formats.gguf.GgufValue;
import dev.requant.formats.io.JsonFile;
import dev.requant.formats.model.GemmaArch;
import java.io.IOException;
import java.nio.file.Files;
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

    static GgufMetadata build(HfConfig c, ConversionSettings settings, Vocabulary vocab, List<PlannedTensor> tensors, int ple) throws IOException {
        String a = c.arch().ggufName();
        boolean g4 = c.arch() == GemmaArch.GEMMA4;
        GgufMetadata md = new GgufMetadata();
        md.put(General.ARCHITECTURE, GgufValue.string(a));
        md.put(General.TYPE, GgufValue.string("model"));
        ModelNaming.load(c.dir(), settings.modelName(), parameterCounts(tensors)).writeTo(md);

        // TextModel.set_gguf_parameters
        u32(md, LLM.blockCount(a), c.blockCount());
        u32(md, LLM.contextLength(a), c.contextLength());
        u32(md, LLM.embeddingLength(a), c.embeddingLength());
        u32(md, LLM.feedForwardLength(a), c.hparams().get("intermediate_size").asLong());
        u32(md, Attention.headCount(a), c.headCount());
        u32(md, Attention.headCountKv(a), c.hparams().get("num_key_value_heads").asLong());
        if (c.hparams().path("is_causal").isBoolean() && !c.hparams().get("is_causal").asBoolean()) {
            md.put(Attention.causal(a), GgufValue.bool(false));
        }
        HfConfig.Rope rope = c.rope();
        if ("linear".equals(rope.fullType()) && rope.factor() != null) {
            md.put(Rope.scalingType(a), GgufValue.string("linear"));
            f32(md, Rope.scalingFactor(a), rope.factor());
        }
        f32(md, Rope.freqBase(a), rope.thetaFull());
        if (rope.thetaSwa() != null) f32(md, Rope.freqBaseSwa(a), rope.thetaSwa());
        f32(md, Attention.layerNormRmsEpsilon(a), c.rmsEps());
        if (c.expertCount() != null) u32(md, LLM.expertCount(a), c.expertCount());
        if (c.expertUsedCount() != null) u32(md, LLM.expertUsedCount(a), c.expertUsedCount());
        u32(md, Attention.keyLength(a), c.hparams().get("head_dim").asLong());
        u32(md, Attention.valueLength(a), c.hparams().get("head_dim").asLong());
        u32(md, General.FILE_TYPE, settings.outType().id());

        // Gemma3Model.set_gguf_parameters
        u32(md, LLM.contextLength(a), c.contextLength());
        u32(md, Attention.headCount(a), c.headCount());
        f32(md, Attention.layerNormRmsEpsilon(a), c.rmsEps());
        u32(md, Attention.keyLength(a), c.headDimSwa());
        u32(md, Attention.valueLength(a), c.headDimSwa());
        f32(md, Rope.freqBase(a), rope.thetaFull());
        if (c.finalLogitSoftcap() != null && c.finalLogitSoftcap() != 0) f32(md, LLM.finalLogitSoftcapping(a), c.finalLogitSoftcap());
        if (c.slidingWindow() != null) u32(md, Attention.slidingWindow(a), c.slidingWindow());
        if (c.kvHeadsPerLayer()) md.put(Attention.headCountKv(a), GemmaPlanner.int32Array(c.kvHeads()));
        else u32(md, Attention.headCountKv(a), c.kvHeads(0));
        if (!g4 && c.feedForwardPerLayer()) md.put(LLM.feedForwardLength(a), GemmaPlanner.int32Array(c.feedForward()));

        if (g4) {
            // Gemma4Model.set_gguf_parameters
            u32(md, Attention.sharedKvLayers(a), c.sharedKvLayers());
            u32(md, LLM.embeddingLengthPerLayerInput(a), ple);
            md.put(Attention.slidingWindowPattern(a), GgufValue.array(GgufArray.ofBool(c.slidingLayers())));
            u32(md, Attention.keyLength(a), c.headDimFull());
            u32(md, Attention.valueLength(a), c.headDimFull());
            u32(md, Attention.keyLengthSwa(a), c.headDimSwa());
            u32(md, Attention.valueLengthSwa(a), c.headDimSwa());
            if (c.expertFeedForward() != null) u32(md, LLM.expertFeedForwardLength(a), c.expertFeedForward());
            if (c.feedForwardPerLayer()) md.put(LLM.feedForwardLength(a), GemmaPlanner.int32Array(c.feedForward()));
            u32(md, Rope.dimensionCount(a), c.headDimFull());
            u32(md, Rope.dimensionCountSwa(a), (long) (c.headDimSwa() * rope.partialRotaryTopLevel()));
            if (c.unified()) suppressTokens(c.dir(), md);
        }
        u32(md, General.QUANTIZATION_VERSION, 2);
        vocab.writeTo(md);
        return md;
    }

    /** Gemma4UnifiedModel: generation_config.json suppress_tokens as an INT32 array (gguf-py skips an empty list). */
    private static void suppressTokens(Path dir, GgufMetadata md) throws IOException {
        Path f = dir.resolve("generation_config.json");
        if (!Files.isRegularFile(f)) return;
        JsonNode n = JsonFile.read(f).get("suppress_tokens");
        if (n == null || n.isNull()) return;
        if (!n.isArray()) throw new FormatException(f, "suppress_tokens must be a list of token ids");
        int[] ids = new int[n.size()];
        for (int i = 0; i < ids.length; i++) {
            if (!n.get(i).canConvertToInt()) throw new FormatException(f, "suppress_tokens[" + i + "] is not a token id");
            ids[i] = n.get(i).asInt();
        }
        if (ids.length > 0) md.put(GgufKeys.Tokenizer.SUPPRESS_TOKENS, GemmaPlanner.int32Array(ids));
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

    private static void u32(GgufMetadata md, String key, long v) {
        md.put(key, GgufValue.u32(v));
    }

    private static void f32(GgufMetadata md, String key, double v) {
        md.put(key, GgufValue.f32((float) v));
    }
}
