package dev.requant.converter.quantize;

import dev.requant.formats.ggml.BlockCodec;
import dev.requant.formats.ggml.GgmlType;
import dev.requant.formats.gguf.GgufFile;
import dev.requant.formats.gguf.GgufKeys;
import dev.requant.formats.gguf.GgufMetadata;
import dev.requant.formats.gguf.GgufShards;
import dev.requant.formats.gguf.GgufTensorInfo;
import dev.requant.formats.gguf.GgufTensorSpec;
import dev.requant.formats.gguf.GgufValue;
import dev.requant.formats.imatrix.ImatrixImportance;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Optional;

/**
 * Plans a quantization as llama_model_quantize_impl (src/llama-quant.cpp) does before it writes anything: output
 * metadata, tensor order, every tensor's type, and the imatrix vector each encoder gets; with llama.cpp's checks
 * (non-finite imatrix values, required imatrix, imatrix length mismatch, quantized inputs without --allow-requantize).
 */
public final class QuantizePlanner {
    /** GGML_QNT_VERSION (ggml/include/ggml.h). */
    public static final int QUANTIZATION_VERSION = 2;
    /** llama-quantize copies strings into 128-byte override buffers (strncpy 127 + NUL). */
    static final int OVERRIDE_STRING_BYTES = 127;

    private QuantizePlanner() {}

    public static QuantizePlan plan(GgufFile in, QuantizeSettings s) throws QuantizeException, dev.requant.formats.FormatException {
        return plan(GgufShards.of(in), s);
    }

    /**
     * Plans over a model in one file or several shards: tensors in llama_model_loader's weight order (with
     * --keep-split: shard by shard, in file order), --prune-layers renaming, the type rules on the new names.
     */
    public static QuantizePlan plan(GgufShards in, QuantizeSettings s) throws QuantizeException, dev.requant.formats.FormatException {
        GgufMetadata inMeta = in.metadata();
        for (KvOverride o : s.kvOverrides()) {
            if (o.key().equals(GgufKeys.General.ALIGNMENT)) {
                // llama.cpp asserts on a bad one and otherwise writes the key without aligning to it
                throw new QuantizeException("--override-kv " + o + ": general.alignment cannot be overridden");
            }
        }
        if (in.tensors().isEmpty()) {
            throw new QuantizeException(in.path() + ": has no tensors (a vocabulary-only file?); there is nothing to quantize");
        }
        // llama.cpp's reader refuses nested arrays, so neither llama-quantize nor llama.cpp could use the output
        for (GgufFile f : in.files()) for (String problem : f.llamaCppIncompatibilities()) throw new QuantizeException(f.path() + ": " + problem);
        ModelFacts model = ModelFacts.of(inMeta, in.path(), s.kvOverrides());
        if (s.hasImatrix()) checkFinite(s.imatrix());

        List<GgufShards.Tensor> order = new ArrayList<>(in.tensors());
        order.sort((a, b) -> WeightOrder.INSTANCE.compare(a.name(), b.name()));
        LayerPrune prune = new LayerPrune(s.pruneLayers());
        record Kept(GgufShards.Tensor tensor, GgufTensorSpec spec) {}
        List<Kept> kept = new ArrayList<>(order.size());
        for (GgufShards.Tensor t : order) {
            String name;
            try {
                name = prune.rename(t.name());
            } catch (QuantizePolicyException e) {
                throw new QuantizeException(in.path() + ": " + e.getMessage());
            }
            if (name != null) kept.add(new Kept(t, new GgufTensorSpec(name, t.info().type(), t.info().ne())));
        }
        if (s.keepSplit()) {
            // llama-quantize sorts the weights by shard and offset so that each output shard is written in one go
            kept.sort(java.util.Comparator.comparingInt((Kept k) -> k.tensor().shard()).thenComparingLong(k -> k.tensor().info().offset()));
            int shards = kept.stream().mapToInt(k -> k.tensor().shard() + 1).max().orElse(1);
            for (int i = 0; i < shards; i++) {
                final int shard = i;
                if (kept.stream().noneMatch(k -> k.tensor().shard() == shard)) {
                    throw new QuantizeException(in.path() + ": --keep-split: no tensor of shard " + (i + 1) + " is left after --prune-layers"
                            + " (llama-quantize cannot write an empty shard)");
                }
            }
        }
        QuantTypePolicy policy = new QuantTypePolicy(s, model, kept.stream().map(k -> k.spec().name()).toList());

        List<PlannedQuantTensor> tensors = new ArrayList<>(kept.size());
        for (Kept k : kept) {
            QuantDecision d;
            try {
                d = policy.decide(k.spec());
            } catch (QuantizePolicyException e) {
                throw new QuantizeException(in.path() + ": " + e.getMessage());
            }
            tensors.add(plan(k.tensor(), k.spec(), d, s));
        }
        return new QuantizePlan(in, s, model, outputMetadata(inMeta, s, prune.active() ? prune.blockCount() : -1, model.arch()), tensors,
                policy.fallbacks());
    }

    private static PlannedQuantTensor plan(GgufShards.Tensor shardTensor, GgufTensorSpec named, QuantDecision d, QuantizeSettings s) {
        GgufTensorInfo t = shardTensor.info();
        int shard = shardTensor.shard();
        GgufTensorSpec out = named.withType(d.type()).withTrailingOnesDropped();
        if (t.type() == d.type()) return new PlannedQuantTensor(t, out, d, null, "", null, shard);
        String problem = null;
        GgmlType src = t.type();
        if (src.quantized() && !s.allowRequantize()) {
            problem = "requantizing from type " + src.ggmlName() + " is disabled (use --allow-requantize)";
        } else if (!BlockCodec.supported().contains(src) || !(src.quantized() || src == GgmlType.F32 || src == GgmlType.F16 || src == GgmlType.BF16)) {
            problem = "cannot dequantize/convert tensor type " + src.ggmlName();
        } else if (!BlockCodec.supported().contains(d.type())) {
            problem = "requant has no encoder for type " + d.type().ggmlName();
        }
        float[] importance = null;
        String note = "";
        if (s.hasImatrix()) {
            // remap_imatrix: after --prune-layers the entry is still the one of the original block, i.e. the input name
            Optional<float[]> w = s.imatrix().importance().forWeight(t.name());
            long want = t.spec().rowLength() * t.spec().dim(2);
            if (w.isEmpty()) {
                note = "no imatrix entry";
            } else if (w.get().length != want) {
                note = "imatrix size " + w.get().length + " is different from tensor size " + want;
                // llama.cpp: fatal, except for the token embeddings, which always mismatch in old imatrix files.
                if (!TensorCategory.isTokenEmbedding(named.name()) && problem == null) problem = note;
            } else {
                importance = w.get();
                if (!BlockCodec.supported().contains(d.type()) || !BlockCodec.of(d.type()).usesImportance()) {
                    note = "imatrix not used by " + d.type().ggmlName();
                } else {
                    note = "imatrix";
                }
            }
        }
        if (problem == null && importance == null && d.requiresImatrix() && s.hasImatrix()) {
            problem = "Missing importance matrix for tensor " + named.name() + " in a very low-bit quantization";
        }
        if (problem == null && importance == null && BlockCodec.supported().contains(d.type()) && BlockCodec.of(d.type()).requiresImportance()) {
            // ggml_quantize_chunk asserts here (GGML_ASSERT(imatrix != NULL)); tensor_requires_imatrix exempts
            // token_embd/output, so --pure or --tensor-type can send one of them to such a type without an entry.
            String n = named.name();
            problem = d.type().ggmlName() + " cannot be made without importance data and "
                    + (s.hasImatrix() ? "the imatrix " + s.imatrix().fileAsGiven() + " has no entry for " + n : "no imatrix was given")
                    + " (llama-quantize aborts on it); choose another type for it"
                    + (TensorCategory.isTokenEmbedding(n) ? " with --token-embedding-type" : n.equals("output.weight") ? " with --output-tensor-type" : " with --tensor-type");
        }
        if (problem == null && t.spec().nDims() > 3 && t.spec().dim(3) > 1) {
            problem = "4-D tensors are not quantized (llama-quantize would quantize only the first ne[3] slice)";
        }
        return new PlannedQuantTensor(t, out, d, importance, note, problem, shard);
    }

    /** llama-quantize's "imatrix contains non-finite value" check over every entry kept by the filters. */
    static void checkFinite(ImatrixInput im) throws QuantizeException {
        for (Map.Entry<String, float[]> e : im.importance().values().entrySet()) {
            for (float f : e.getValue()) {
                if (!Float.isFinite(f)) {
                    throw new QuantizeException(im.fileAsGiven() + ": imatrix contains non-finite value " + f + " (entry " + e.getKey() + ")");
                }
            }
        }
    }

    public static GgufMetadata outputMetadata(GgufMetadata in, QuantizeSettings s) {
        return outputMetadata(in, s, -1, in.architecture().orElse(""));
    }

    /**
     * The output key/values (llama_model_quantize_impl): every input key in order, then general.quantization_version
     * and general.file_type moved to the end, split.* removed, then the KV overrides as llama-quantize passes them
     * (--override-kv in order, then the imatrix keys; gguf_set_*: a key that exists is moved to the end), then with
     * --prune-layers the new block count.
     */
    static GgufMetadata outputMetadata(GgufMetadata in, QuantizeSettings s, int prunedBlockCount, String arch) {
        GgufMetadata m = new GgufMetadata(in);
        m.putLast(GgufKeys.General.QUANTIZATION_VERSION, GgufValue.u32(QUANTIZATION_VERSION));
        m.putLast(GgufKeys.General.FILE_TYPE, GgufValue.u32(s.fileType().id()));
        m.remove(GgufKeys.Split.NO);
        m.remove(GgufKeys.Split.COUNT);
        m.remove(GgufKeys.Split.TENSORS_COUNT);
        for (KvOverride o : s.kvOverrides()) m.putLast(o.key(), o.toGgufValue());
        if (s.hasImatrix()) {
            ImatrixImportance im = s.imatrix().importance();
            m.putLast(GgufKeys.Quantize.IMATRIX_FILE, GgufValue.string(truncateUtf8(s.imatrix().fileAsGiven(), OVERRIDE_STRING_BYTES)));
            if (!im.datasets().isEmpty()) {
                m.putLast(GgufKeys.Quantize.IMATRIX_DATASET, GgufValue.string(truncateUtf8(im.datasets().getFirst(), OVERRIDE_STRING_BYTES)));
            }
            // INT overrides are written as u32(|value|) (llama-quant.cpp, PR 14182).
            m.putLast(GgufKeys.Quantize.IMATRIX_ENTRIES_COUNT, GgufValue.u32(im.size()));
            if (im.chunkCount() > 0) m.putLast(GgufKeys.Quantize.IMATRIX_CHUNKS_COUNT, GgufValue.u32(Math.abs((long) im.chunkCount())));
        }
        if (prunedBlockCount >= 0) m.putLast(GgufKeys.LLM.blockCount(arch), GgufValue.u32(prunedBlockCount));
        return m;
    }

    /**
     * The first {@code max} bytes of the UTF-8 encoding (strncpy), backed off to a whole character: a Java string
     * cannot carry the torn byte sequence llama.cpp would write when the cut falls inside a character.
     */
    static String truncateUtf8(String s, int max) {
        byte[] b = s.getBytes(StandardCharsets.UTF_8);
        if (b.length <= max) return s;
        int end = max;
        while (end > 0 && (b[end] & 0xC0) == 0x80) end--;
        return new String(b, 0, end, StandardCharsets.UTF_8);
    }
}
