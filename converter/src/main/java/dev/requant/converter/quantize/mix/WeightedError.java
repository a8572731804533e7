package dev.requant.converter.quantize.mix;

import dev.requant.formats.ggml.BlockCodec;
import dev.requant.formats.ggml.GgmlType;
import java.lang.foreign.MemorySegment;

/**
 * The importance-weighted squared error of a quantized tensor against its source, Σ_rows Σ_j imp[j]·(w_j − q_j)²: the
 * quantity llama.cpp's importance-aware encoders minimise per block, summed over the tensor. With the imatrix's
 * column importance (mean squared input activation) it approximates the squared output error the tensor causes on
 * the calibration text, the proxy's measure of "how much worse" one type is than another.
 */
public final class WeightedError {
    private WeightedError() {}

    /**
     * @param rowLength elements per row (ne[0])
     * @param rows rows in all (for a stack of matrices, every matrix's rows)
     * @param importance per column, or per column of each matrix ({@code rowLength · matrices} values), or null (all 1)
     */
    public static double of(MemorySegment source, GgmlType sourceType, MemorySegment quantized, GgmlType quantizedType, int rowLength,
            long rows, float[] importance) {
        BlockCodec src = BlockCodec.of(sourceType), q = BlockCodec.of(quantizedType);
        long srcRow = sourceType.rowBytes(rowLength), qRow = quantizedType.rowBytes(rowLength);
        int matrices = importance == null ? 1 : Math.max(1, importance.length / rowLength);
        long rowsPerMatrix = Math.max(1, rows / matrices);
        float[] a = new float[rowLength], b = new float[rowLength];
        double sum = 0;
        for (long r = 0; r < rows; r++) {
            src.decode(source, r * srcRow, a, 0, rowLength);
            q.decode(quantized, r * qRow, b, 0, rowLength);
            int base = importance == null ? 0 : (int) Math.min(matrices - 1, r / rowsPerMatrix) * rowLength;
            double s = 0;
            for (int j = 0; j < rowLength; j++) {
                double d = a[j] - b[j];
                s += (importance == null ? 1 : importance[base + j]) * d * d;
            }
            sum += s;
        }
        return sum;
    }
}
