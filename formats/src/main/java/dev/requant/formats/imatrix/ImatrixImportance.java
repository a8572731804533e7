package dev.requant.formats.imatrix;

import dev.requant.formats.FormatException;
import java.nio.file.Path;
import java.util.Collections;
import java.util.List;
import java.util.Optional;
import java.util.SortedMap;
import java.util.TreeMap;

/**
 * The per-column weights a quantizer uses: the mean of x² over the calibration tokens, per input column (and per
 * expert), as llama-quantize's load_imatrix computes them from a file.
 *
 * @param values per weight name: {@code columns * experts} floats
 * @param datasets the imatrix's datasets (the first one goes into quantize.imatrix.dataset)
 * @param chunkCount the imatrix's chunk count (quantize.imatrix.chunks_count)
 */
public record ImatrixImportance(SortedMap<String, float[]> values, List<String> datasets, int chunkCount) {
    public ImatrixImportance {
        TreeMap<String, float[]> sorted = new TreeMap<>(Imatrix.NAME_ORDER);
        sorted.putAll(values);
        values = Collections.unmodifiableSortedMap(sorted);
        datasets = List.copyOf(datasets);
    }

    /**
     * Normalizes as llama-quantize does. GGUF: {@code in_sum2[e][i] / counts[e]}, and 1.0 for every value of an
     * expert whose count is not positive. Legacy: {@code stored[i] / ncall}, or the stored value when ncall is not
     * positive. Then the include/exclude filter.
     *
     * @param file the file name for the error when a GGUF imatrix lacks its metadata (llama-quantize refuses those)
     */
    public static ImatrixImportance of(Imatrix im, ImatrixFilter filter, Path file) throws FormatException {
        if (!im.legacy() && !im.hasMetadata()) {
            throw new FormatException(file, "missing imatrix metadata: llama-quantize needs imatrix.datasets, imatrix.chunk_count and imatrix.chunk_size");
        }
        TreeMap<String, float[]> out = new TreeMap<>(Imatrix.NAME_ORDER);
        for (ImatrixEntry e : im.entries().values()) {
            if (!filter.accepts(e.name())) continue;
            out.put(e.name(), normalize(e, im.legacy()));
        }
        return new ImatrixImportance(out, im.datasets(), im.chunkCount());
    }

    /** One entry's mean squares (see {@link #of}). */
    public static float[] normalize(ImatrixEntry e, boolean legacy) {
        float[] s = e.sums();
        float[] v = new float[s.length];
        if (!legacy) {
            int ne0 = e.columns();
            for (int m = 0; m < e.matrices(); m++) {
                float count = (float) e.counts()[m];
                for (int i = 0; i < ne0; i++) v[m * ne0 + i] = count > 0.0f ? s[m * ne0 + i] / count : 1.0f;
            }
        } else {
            long ncall = e.counts()[0];
            // C++ divides float by int64_t after converting the int64_t to float.
            for (int i = 0; i < s.length; i++) v[i] = ncall > 0 ? s[i] / (float) ncall : s[i];
        }
        return v;
    }

    /** The weights for one tensor, if the imatrix has them. */
    public Optional<float[]> forWeight(String name) { return Optional.ofNullable(values.get(name)); }

    public int size() { return values.size(); }
}
