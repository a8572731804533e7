package dev.requant.converter.quantize;

import dev.requant.formats.ggml.BlockCodec;
import dev.requant.formats.ggml.GgmlType;
import dev.requant.formats.gguf.GgufFile;
import dev.requant.formats.gguf.GgufMetadata;
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
    public static final String KEY_QUANTIZATION_VERSION = "general.quantization_version";
    public static final String KEY_FILE_TYPE = "general.file_type";
    public static final String KEY_IMATRIX_FILE = "quantize.imatrix.file";
    public static final String KEY_IMATRIX_DATASET = "quantize.imatrix.dataset";
    public static final String KEY_IMATRIX_ENTRIES = "quantize.imatrix.entries_count";
    public static final String KEY_IMATRIX_CHUNKS = "quantize.imatrix.chunks_count";
    /** llama-quantize copies strings into 128-byte override buffers (strncpy 127 + NUL). */
    static final int OVERRIDE_STRING_BYTES = 127;

    private QuantizePlanner() {}

    public static QuantizePlan plan(GgufFile in, QuantizeSettings s) throws QuantizeException, dev.requant.formats.FormatException {
        GgufMetadata inMeta = in.metadata();
        long splits = inMeta.getLong("split.count").orElse(1L);
        if (splits > 1) {
            throw new QuantizeException(in.path() + ": is shard " + (inMeta.getLong("split.no").orElse(0L) + 1) + " of " + splits
                    + " of a split GGUF; merge it first (llama-gguf-split --merge)");
        }
        ModelFacts model = ModelFacts.of(in);
        if (s.hasImatrix()) checkFinite(s.imatrix());

        List<GgufTensorInfo> order = new ArrayList<>(in.tensors());
        order.sort((a, b) -> WeightOrder.INSTANCE.compare(a.name(), b.name()));
        QuantTypePolicy policy = new QuantTypePolicy(s, model, order.stream().map(GgufTensorInfo::name).toList());

        List<PlannedQuantTensor> tensors = new ArrayList<>(order.size());
        for (GgufTensorInfo t : order) {
            QuantDecision d;
            try {
                d = policy.decide(t.spec());
            } catch (QuantizePolicyException e) {
                throw new QuantizeException(in.path() + ": " + e.getMessage());
            }
            tensors.add(plan(t, d, s));
        }
        return new QuantizePlan(in, s, model, outputMetadata(inMeta, s), tensors, policy.fallbacks());
    }

    private static PlannedQuantTensor plan(GgufTensorInfo t, QuantDecision d, QuantizeSettings s) {
        GgufTensorSpec out = t.spec().withType(d.type()).withTrailingOnesDropped();
        if (t.type() == d.type()) return new PlannedQuantTensor(t, out, d, null, "", null);
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
            Optional<float[]> w = s.imatrix().importance().forWeight(t.name());
            long want = t.spec().rowLength() * t.spec().dim(2);
            if (w.isEmpty()) {
                note = "no imatrix entry";
            } else if (w.get().length != want) {
                note = "imatrix size " + w.get().length + " is different from tensor size " + want;
                // llama.cpp: fatal, except for the token embeddings, which always mismatch in old imatrix files.
                if (!TensorCategory.isTokenEmbedding(t.name()) && problem == null) problem = note;
            } else {
                importance = w.get();
                if (!BlockCodec.supported().contains(d.type()) || !BlockCodec.of(d.type()).usesImportance()) {
                    note = "imatrix not used by " + d.type().ggmlName();
                } else {
                    note = "imatrix";
                }
            }
        }
        if (problem == null && importance == null && d.requiresImatrix()) {
            problem = "Missing importance matrix for tensor " + t.name() + " in a very low-bit quantization";
        }
        if (problem == null && importance == null && BlockCodec.of(d.type()).requiresImportance()) {
            // llama.cpp exempts token_embd and output from the rule above, but ggml's IQ2_XXS, IQ2_XS and IQ1_S
            // quantizers cannot run without one: llama-quantize aborts on an assertion there
            problem = d.type().ggmlName() + " cannot be made without an imatrix, and "
                    + (s.hasImatrix() ? "the imatrix has no entry for this tensor" : "no imatrix was given");
        }
        if (problem == null && t.spec().nDims() > 3 && t.spec().dim(3) > 1) {
            problem = "4-D tensors are not quantized (llama-quantize would quantize only the first ne[3] slice)";
        }
        return new PlannedQuantTensor(t, out, d, importance, note, problem);
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

    /**
     * The output key/values (llama_model_quantize_impl): every input key in order, then general.quantization_version
     * and general.file_type moved to the end, split.* removed, then the imatrix keys as llama-quantize's KV overrides
     * (gguf_set_*: a key that exists is moved to the end).
     */
    public static GgufMetadata outputMetadata(GgufMetadata in, QuantizeSettings s) {
        GgufMetadata m = new GgufMetadata(in);
        m.putLast(KEY_QUANTIZATION_VERSION, GgufValue.u32(QUANTIZATION_VERSION));
        m.putLast(KEY_FILE_TYPE, GgufValue.u32(s.fileType().id()));
        m.remove("split.no");
        m.remove("split.count");
        m.remove("split.tensors.count");
        if (s.hasImatrix()) {
            ImatrixImportance im = s.imatrix().importance();
            m.putLast(KEY_IMATRIX_FILE, GgufValue.string(truncateUtf8(s.imatrix().fileAsGiven(), OVERRIDE_STRING_BYTES)));
            if (!im.datasets().isEmpty()) {
                m.putLast(KEY_IMATRIX_DATASET, GgufValue.string(truncateUtf8(im.datasets().getFirst(), OVERRIDE_STRING_BYTES)));
            }
            // INT overrides are written as u32(|value|) (llama-quant.cpp, PR 14182).
            m.putLast(KEY_IMATRIX_ENTRIES, GgufValue.u32(im.size()));
            if (im.chunkCount() > 0) m.putLast(KEY_IMATRIX_CHUNKS, GgufValue.u32(Math.abs((long) im.chunkCount())));
        }
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
