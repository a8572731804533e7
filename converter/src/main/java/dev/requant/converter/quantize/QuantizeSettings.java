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
 * @param tensorTypes {@code --tensor-type PATTERN=TYPE}, first match wins
 * @param allowRequantize {@code --allow-requantize}: quantized inputs are dequantized first instead of refused
 * @param imatrix {@code --imatrix} (after --include-weights / --exclude-weights), or null
 * @param search how block scales are chosen
 * @param threads encoder threads (the output does not depend on it)
 */
public record QuantizeSettings(FileType fileType, boolean pure, boolean quantizeOutputTensor, GgmlType outputTensorType,
                               GgmlType tokenEmbeddingType, List<TensorTypeOverride> tensorTypes, boolean allowRequantize,
                               ImatrixInput imatrix, ScaleSearch search, int threads) {
    public QuantizeSettings {
        Objects.requireNonNull(fileType);
        tensorTypes = List.copyOf(tensorTypes);
        Objects.requireNonNull(search);
        if (threads < 1) throw new IllegalArgumentException("threads must be at least 1, got " + threads);
    }

    /** llama_model_quantize_default_params with this file type, llama.cpp's scale choice, all processors. */
    public static QuantizeSettings of(FileType fileType) {
        return new QuantizeSettings(fileType, false, true, null, null, List.of(), false, null, ScaleSearch.DEFAULT,
                Runtime.getRuntime().availableProcessors());
    }

    public QuantizeSettings withPure(boolean v) {
        return new QuantizeSettings(fileType, v, quantizeOutputTensor, outputTensorType, tokenEmbeddingType, tensorTypes, allowRequantize, imatrix, search, threads);
    }

    public QuantizeSettings withLeaveOutputTensor(boolean leave) {
        return new QuantizeSettings(fileType, pure, !leave, outputTensorType, tokenEmbeddingType, tensorTypes, allowRequantize, imatrix, search, threads);
    }

    public QuantizeSettings withOutputTensorType(GgmlType t) {
        return new QuantizeSettings(fileType, pure, quantizeOutputTensor, t, tokenEmbeddingType, tensorTypes, allowRequantize, imatrix, search, threads);
    }

    public QuantizeSettings withTokenEmbeddingType(GgmlType t) {
        return new QuantizeSettings(fileType, pure, quantizeOutputTensor, outputTensorType, t, tensorTypes, allowRequantize, imatrix, search, threads);
    }

    public QuantizeSettings withTensorTypes(List<TensorTypeOverride> v) {
        return new QuantizeSettings(fileType, pure, quantizeOutputTensor, outputTensorType, tokenEmbeddingType, v, allowRequantize, imatrix, search, threads);
    }

    public QuantizeSettings withAllowRequantize(boolean v) {
        return new QuantizeSettings(fileType, pure, quantizeOutputTensor, outputTensorType, tokenEmbeddingType, tensorTypes, v, imatrix, search, threads);
    }

    public QuantizeSettings withImatrix(ImatrixInput v) {
        return new QuantizeSettings(fileType, pure, quantizeOutputTensor, outputTensorType, tokenEmbeddingType, tensorTypes, allowRequantize, v, search, threads);
    }

    public QuantizeSettings withSearch(ScaleSearch v) {
        return new QuantizeSettings(fileType, pure, quantizeOutputTensor, outputTensorType, tokenEmbeddingType, tensorTypes, allowRequantize, imatrix, v, threads);
    }

    public QuantizeSettings withThreads(int v) {
        return new QuantizeSettings(fileType, pure, quantizeOutputTensor, outputTensorType, tokenEmbeddingType, tensorTypes, allowRequantize, imatrix, search, v);
    }

    /** llama.cpp's has_imatrix: an imatrix with at least one entry left after filtering. */
    public boolean hasImatrix() {
        return imatrix != null && imatrix.importance().size() > 0;
    }
}
