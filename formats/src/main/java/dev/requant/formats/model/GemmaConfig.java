package dev.requant.formats.model;

import dev.requant.formats.FormatException;
import dev.requant.formats.gguf.GgufArray;
import dev.requant.formats.gguf.GgufKeys;
import dev.requant.formats.gguf.GgufKeys.Attention;
import dev.requant.formats.gguf.GgufKeys.General;
import dev.requant.formats.gguf.GgufKeys.LLM;
import dev.requant.formats.gguf.GgufKeys.Rope;
import dev.requant.formats.gguf.GgufMetadata;
import dev.requant.formats.gguf.GgufValue;
import dev.requant.formats.gguf.GgufValueType;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

/**
 * Everything a backend needs to know about a Gemma 3 / Gemma 4 text model, read from GGUF metadata the way llama.cpp's
 * loader reads it (llama_model::load_hparams and src/models/gemma3.cpp, gemma4.cpp). The one description of a Gemma
 * model: the CPU forward pass and a CUDA one build from the same record, and the converter's output is checked
 * against it (what it wrote is what llama.cpp will read). Hugging Face config.json is read by the converter's
 * HfConfig, whose values the converter writes as these keys.
 *
 * @param nVocab rows of token_embd (the loader requires it to equal the tokenizer's token count)
 * @param contextLength the trained context ({arch}.context_length)
 * @param slidingWindow n_swa: a sliding layer's query at position q sees keys k with q - k < n_swa
 * @param finalLogitSoftcap c in logits = c·tanh(logits/c), or 0 when not configured
 * @param perLayerInputDim Gemma 4 per-layer-input (PLE) width, 0 when absent
 * @param nExpert experts of a Gemma 4 MoE block (0 when dense)
 * @param suppressTokens token ids whose logits are forced to -inf (tokenizer.ggml.suppress_tokens, Gemma 4 Unified)
 */
public record GemmaConfig(
        GemmaArch arch,
        int nEmbd,
        int nVocab,
        int nLayer,
        int contextLength,
        float rmsEps,
        int slidingWindow,
        float finalLogitSoftcap,
        int perLayerInputDim,
        int nExpert,
        int nExpertUsed,
        int expertFf,
        int[] suppressTokens,
        List<LayerConfig> layers) {

    public GemmaConfig {
        layers = List.copyOf(layers);
        suppressTokens = suppressTokens.clone();
    }

    @Override
    public int[] suppressTokens() { return suppressTokens.clone(); }

    public LayerConfig layer(int i) { return layers.get(i); }

    /** The factor token embeddings are multiplied by: sqrtf(n_embd), as llama.cpp computes it (float). */
    public float embeddingScale() { return (float) Math.sqrt(nEmbd); }

    public boolean hasPerLayerInputs() { return perLayerInputDim > 0; }

    /** Reads the config of a model: metadata, with n_vocab from token_embd's second dimension. */
    public static GemmaConfig of(ModelSource source) throws FormatException {
        long nVocab = source.tensor("token_embd.weight")
                .orElseThrow(() -> new FormatException(source.path(), "no tensor 'token_embd.weight'"))
                .dim(1);
        return fromMetadata(source.metadata(), nVocab, source.path());
    }

    /** Builds the config from metadata keys; {@code file} is only used in error messages. */
    public static GemmaConfig fromMetadata(GgufMetadata md, long nVocab, Path file) throws FormatException {
        Keys k = new Keys(md, file);
        String archName = md.architecture().orElseThrow(() -> new FormatException(file, "no " + General.ARCHITECTURE + " key"));
        GemmaArch arch = GemmaArch.byGgufName(archName).orElseThrow(() -> new FormatException(file,
                "architecture '" + archName + "' is not supported (supported: " + GemmaArch.supportedGgufNames() + ")"));
        String a = arch.ggufName();

        int nLayer = k.u32(LLM.blockCount(a));
        int nEmbd = k.u32(LLM.embeddingLength(a));
        int nHead = k.u32(Attention.headCount(a));
        int[] nHeadKv = k.perLayer(Attention.headCountKv(a), nLayer, nHead);
        int[] nFf = k.perLayer(LLM.feedForwardLength(a), nLayer, -1);
        float eps = k.f32(Attention.layerNormRmsEpsilon(a), Float.NaN);
        int contextLength = k.u32Or(LLM.contextLength(a), 0);
        float softcap = k.f32(LLM.finalLogitSoftcapping(a), 0f);
        float ropeBase = k.f32(Rope.freqBase(a), 10000f);
        float ropeBaseSwa = k.f32(Rope.freqBaseSwa(a), 10000f);
        int nSwa = k.u32Or(Attention.slidingWindow(a), 0);
        if (nVocab <= 0 || nVocab > Integer.MAX_VALUE) throw new FormatException(file, "token_embd has " + nVocab + " rows");

        List<LayerConfig> layers = new ArrayList<>(nLayer);
        int ple = 0, nExpert = 0, nExpertUsed = 0, expertFf = 0;
        if (arch == GemmaArch.GEMMA3) {
            int headDim = k.u32Or(Attention.keyLength(a), nEmbd / nHead);
            int valueLength = k.u32Or(Attention.valueLength(a), headDim);
            if (valueLength != headDim) throw new FormatException(file, "key_length " + headDim + " != value_length " + valueLength);
            int nRot = k.u32Or(Rope.dimensionCount(a), headDim);
            float freqScale = 1f;
            String scaling = md.getString(Rope.scalingType(a)).orElse("none");
            if (scaling.equals("linear")) {
                float factor = k.f32(Rope.scalingFactor(a), 1f);
                if (factor != 0f) freqScale = 1f / factor;
            } else if (!scaling.equals("none")) {
                throw new FormatException(file, Rope.scalingType(a) + " '" + scaling + "' is not supported for Gemma 3");
            }
            // src/models/gemma3.cpp: no sliding_window key means every layer is global; otherwise the pattern is
            // period 6 (layer i is global iff i % 6 == 5) unless a scalar sliding_window_pattern overrides it.
            int period = md.get(Attention.slidingWindowPattern(a))
                    .filter(v -> v.type().isInteger()).map(v -> (int) v.asLong()).orElse(6);
            // llama.cpp: f_attention_scale = 27B (62 layers) ? 1/sqrt(n_embd/n_head) : 1/sqrt(head_dim)
            float attnScale = nLayer == 62 ? (float) (1.0 / Math.sqrt((double) (nEmbd / nHead)))
                    : (float) (1.0 / Math.sqrt(headDim));
            for (int i = 0; i < nLayer; i++) {
                boolean swa = nSwa > 0 && period > 0 && (i % period) < period - 1;
                layers.add(new LayerConfig(i, swa, nHead, nHeadKv[i], headDim, nRot,
                        swa ? ropeBaseSwa : ropeBase, swa ? 1f : freqScale, false, nFf[i], i, attnScale));
            }
        } else {
            int headDim = k.u32(Attention.keyLength(a));
            int headDimSwa = k.u32(Attention.keyLengthSwa(a));
            if (k.u32Or(Attention.valueLength(a), headDim) != headDim || k.u32Or(Attention.valueLengthSwa(a), headDimSwa) != headDimSwa) {
                throw new FormatException(file, "Gemma 4 requires key_length == value_length (and the same for _swa)");
            }
            int nRot = k.u32Or(Rope.dimensionCount(a), headDim);
            int nRotSwa = k.u32Or(Rope.dimensionCountSwa(a), headDimSwa);
            boolean[] swaPattern = k.boolArray(Attention.slidingWindowPattern(a), nLayer);
            int shared = k.u32Or(Attention.sharedKvLayers(a), 0);
            ple = k.u32(LLM.embeddingLengthPerLayerInput(a));
            nExpert = k.u32Or(LLM.expertCount(a), 0);
            nExpertUsed = k.u32Or(LLM.expertUsedCount(a), 0);
            expertFf = k.u32Or(LLM.expertFeedForwardLength(a), 0);
            int kvFromStart = nLayer - shared;
            if (shared > 0 && kvFromStart < 2) throw new FormatException(file, "shared_kv_layers " + shared + " leaves fewer than 2 KV layers");
            for (int i = 0; i < nLayer; i++) {
                boolean swa = swaPattern[i];
                // llama-model.cpp: KV-shared layers read layer n_layer_kv_from_start-2 (sliding) or -1 (global)
                int kvLayer = i < kvFromStart ? i : (swa ? kvFromStart - 2 : kvFromStart - 1);
                int hd = swa ? headDimSwa : headDim;
                layers.add(new LayerConfig(i, swa, nHead, nHeadKv[i], hd, swa ? nRotSwa : nRot,
                        swa ? ropeBaseSwa : ropeBase, 1f, !swa, nFf[i], kvLayer, 1f));
            }
            for (LayerConfig l : layers) {
                LayerConfig src = layers.get(l.kvLayer());
                if (src.slidingWindow() != l.slidingWindow() || src.headDim() != l.headDim() || src.nHeadKv() != l.nHeadKv()) {
                    throw new FormatException(file, "layer " + l.index() + " shares the KV cache of layer " + src.index()
                            + ", which has another kind or shape");
                }
            }
        }
        for (LayerConfig l : layers) {
            if (l.nHeadKv() <= 0 || l.nHead() % l.nHeadKv() != 0) {
                throw new FormatException(file, "layer " + l.index() + ": head_count " + l.nHead() + " is not a multiple of head_count_kv " + l.nHeadKv());
            }
            if (l.nRot() > l.headDim() || l.nRot() % 2 != 0) {
                throw new FormatException(file, "layer " + l.index() + ": rope dimension " + l.nRot() + " does not fit head size " + l.headDim());
            }
        }
        if (!(eps > 0f)) throw new FormatException(file, "missing or bad key " + Attention.layerNormRmsEpsilon(a));
        int[] suppress = md.getArray(GgufKeys.Tokenizer.SUPPRESS_TOKENS)
                .map(Keys::ints).orElse(new int[0]);
        return new GemmaConfig(arch, nEmbd, (int) nVocab, nLayer, contextLength, eps, nSwa, softcap, ple,
                nExpert, nExpertUsed, expertFf, suppress, layers);
    }

    /** Typed access to metadata keys with errors that name the file and the key. */
    private static final class Keys {
        final GgufMetadata md;
        final Path file;

        Keys(GgufMetadata md, Path file) {
            this.md = md;
            this.file = file;
        }

        int u32(String key) throws FormatException {
            GgufValue v = md.get(key).orElseThrow(() -> new FormatException(file, "missing key " + key));
            return toInt(key, v);
        }

        int u32Or(String key, int dflt) throws FormatException {
            var v = md.get(key);
            return v.isPresent() ? toInt(key, v.get()) : dflt;
        }

        private int toInt(String key, GgufValue v) throws FormatException {
            if (!v.type().isInteger()) throw new FormatException(file, "key " + key + " is " + v.type() + ", expected an integer");
            long x = v.asLong();
            if (x < 0 || x > Integer.MAX_VALUE) throw new FormatException(file, "key " + key + " = " + x + " is out of range");
            return (int) x;
        }

        float f32(String key, float dflt) throws FormatException {
            var v = md.get(key);
            if (v.isEmpty()) return dflt;
            if (v.get().type() != GgufValueType.FLOAT32 && v.get().type() != GgufValueType.FLOAT64) {
                throw new FormatException(file, "key " + key + " is " + v.get().type() + ", expected a float");
            }
            return v.get().asFloat();
        }

        /** A u32 for every layer, or an integer array of length n_layer (llama_model_loader::get_key_or_arr). */
        int[] perLayer(String key, int nLayer, int dflt) throws FormatException {
            var v = md.get(key);
            int[] out = new int[nLayer];
            if (v.isEmpty()) {
                if (dflt < 0) throw new FormatException(file, "missing key " + key);
                java.util.Arrays.fill(out, dflt);
                return out;
            }
            if (v.get().type() == GgufValueType.ARRAY) {
                GgufArray a = v.get().asArray();
                if (a.length() != nLayer) {
                    throw new FormatException(file, "key " + key + " has " + a.length() + " entries, expected " + nLayer);
                }
                int[] xs = ints(a);
                for (int i = 0; i < nLayer; i++) {
                    if (xs[i] < 0) throw new FormatException(file, "key " + key + "[" + i + "] = " + xs[i]);
                    out[i] = xs[i];
                }
                return out;
            }
            java.util.Arrays.fill(out, toInt(key, v.get()));
            return out;
        }

        boolean[] boolArray(String key, int nLayer) throws FormatException {
            GgufArray a = md.getArray(key).orElseThrow(() -> new FormatException(file, "missing array key " + key));
            if (a.elementType() != GgufValueType.BOOL || a.length() != nLayer) {
                throw new FormatException(file, "key " + key + " must be a BOOL array of " + nLayer + " entries, is " + a);
            }
            return a.bools().clone();
        }

        static int[] ints(GgufArray a) {
            int[] out = new int[a.length()];
            for (int i = 0; i < out.length; i++) {
                Object o = a.get(i);
                if (!(o instanceof Long l)) throw new IllegalArgumentException("array of " + a.elementType() + " is not integer");
                out[i] = (int) (long) l;
            }
            return out;
        }
    }
}
