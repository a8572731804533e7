package dev.requant.converter.quantize;

import dev.requant.formats.gguf.FileType;
import dev.requant.formats.ggml.GgmlType;
import java.util.List;
import java.util.Objects;

/**
 * What llama-quantize's command line sets (llama_model_quantize_params), plus requant's own scale search.
 *
 * @param fileType the TYPE argument (general.file_type and the default tensor type)
 * @param pure {@code --pure}: no per-category mixture rules (the row-size fallback still applies)
 * @param quantizeOutputTensor false with {@code --leave-output-tensor}: output.weight keeps its type
 * @param outputTensorType {@code --output-tensor-type}, or null
 * @param tokenEmbeddingType {@code --token-embedding-type}, or null
 * @param tensorTypes {@code --tensor-type PATTERN=TYPE} and the lines of {@code --tensor-type-file}, first match wins
 * @param allowRequantize {@code --allow-requantize}: quantized inputs are dequantized first instead of refused
 * @param imatrix {@code --imatrix} (after --include-weights / --exclude-weights), or null
 * @param kvOverrides {@code --override-kv KEY=TYPE:VALUE}, in order
 * @param keepSplit {@code --keep-split}: one output shard per input shard ({@code OUT-00001-of-0000N.gguf}, ...)
 * @param pruneLayers {@code --prune-layers}: block numbers to drop (sorted, distinct); the rest are renumbered
 * @param search how block scales are chosen
 * @param threads encoder threads (the output does not depend on it)
 */
public record QuantizeSettings(FileType fileType, boolean pure, boolean quantizeOutputTensor, GgmlType outputTensorType,
                               GgmlType tokenEmbeddingType, List<TensorTypeOverride> tensorTypes, boolean allowRequantize,
                               ImatrixInput imatrix, List<KvOverride> kvOverrides, boolean keepSplit, List<Integer> pruneLayers,
                               ScaleSearch search, int threads) {
    public QuantizeSettings {
        Objects.requireNonNull(fileType);
        tensorTypes = List.copyOf(tensorTypes);
        kvOverrides = List.copyOf(kvOverrides);
        pruneLayers = List.copyOf(new java.util.TreeSet<>(pruneLayers)); // llama-quantize sorts and de-duplicates
        for (int l : pruneLayers) if (l < 0) throw new IllegalArgumentException("invalid layer id '" + l + "' to prune");
        Objects.requireNonNull(search);
        if (threads < 1) throw new IllegalArgumentException("threads must be at least 1, got " + threads);
    }

    /** llama_model_quantize_default_params with this file type, llama.cpp's scale choice, all processors. */
    public static QuantizeSettings of(FileType fileType) {
        return new QuantizeSettings(fileType, false, true, null, null, List.of(), false, null, List.of(), false, List.of(),
                ScaleSearch.DEFAULT, Runtime.getRuntime().availableProcessors());
    }

    public QuantizeSettings withPure(boolean v) {
        return new QuantizeSettings(fileType, v, quantizeOutputTensor, outputTensorType, tokenEmbeddingType, tensorTypes, allowRequantize, imatrix, kvOverrides, keepSplit, pruneLayers, search, threads);
    }

    public QuantizeSettings withLeaveOutputTensor(boolean leave) {
        return new QuantizeSettings(fileType, pure, !leave, outputTensorType, tokenEmbeddingType, tensorTypes, allowRequantize, imatrix, kvOverrides, keepSplit, pruneLayers, search, threads);
    }

    public QuantizeSettings withOutputTensorType(GgmlType t) {
        return new QuantizeSettings(fileType, pure, quantizeOutputTensor, t, tokenEmbeddingType, tensorTypes, allowRequantize, imatrix, kvOverrides, keepSplit, pruneLayers, search, threads);
    }

    public QuantizeSettings withTokenEmbeddingType(GgmlType t) {
        return new QuantizeSettings(fileType, pure, quantizeOutputTensor, outputTensorType, t, tensorTypes, allowRequantize, imatrix, kvOverrides, keepSplit, pruneLayers, search, threads);
    }

    public QuantizeSettings withTensorTypes(List<TensorTypeOverride> v) {
        return new QuantizeSettings(fileType, pure, quantizeOutputTensor, outputTensorType, tokenEmbeddingType, v, allowRequantize, imatrix, kvOverrides, keepSplit, pruneLayers, search, threads);
    }

    public QuantizeSettings withAllowRequantize(boolean v) {
        return new QuantizeSettings(fileType, pure, quantizeOutputTensor, outputTensorType, tokenEmbeddingType, tensorTypes, v, imatrix, kvOverrides, keepSplit, pruneLayers, search, threads);
    }

    public QuantizeSettings withImatrix(ImatrixInput v) {
        return new QuantizeSettings(fileType, pure, quantizeOutputTensor, outputTensorType, tokenEmbeddingType, tensorTypes, allowRequantize, v, kvOverrides, keepSplit, pruneLayers, search, threads);
    }

    public QuantizeSettings withKvOverrides(List<KvOverride> v) {
        return new QuantizeSettings(fileType, pure, quantizeOutputTensor, outputTensorType, tokenEmbeddingType, tensorTypes, allowRequantize, imatrix, v, keepSplit, pruneLayers, search, threads);
    }

    public QuantizeSettings withKeepSplit(boolean v) {
        return new QuantizeSettings(fileType, pure, quantizeOutputTensor, outputTensorType, tokenEmbeddingType, tensorTypes, allowRequantize, imatrix, kvOverrides, v, pruneLayers, search, threads);
    }

    public QuantizeSettings withPruneLayers(List<Integer> v) {
        return new QuantizeSettings(fileType, pure, quantizeOutputTensor, outputTensorType, tokenEmbeddingType, tensorTypes, allowRequantize, imatrix, kvOverrides, keepSplit, v, search, threads);
    }

    public QuantizeSettings withSearch(ScaleSearch v) {
        return new QuantizeSettings(fileType, pure, quantizeOutputTensor, outputTensorType, tokenEmbeddingType, tensorTypes, allowRequantize, imatrix, kvOverrides, keepSplit, pruneLayers, v, threads);
    }

    public QuantizeSettings withThreads(int v) {
        return new QuantizeSettings(fileType, pure, quantizeOutputTensor, outputTensorType, tokenEmbeddingType, tensorTypes, allowRequantize, imatrix, kvOverrides, keepSplit, pruneLayers, search, v);
    }

    /** llama.cpp's has_imatrix: an imatrix with at least one entry left after filtering. */
    public boolean hasImatrix() {
        return imatrix != null && imatrix.importance().size() > 0;
    }
}
