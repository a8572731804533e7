package dev.requant.formats.imatrix;

import java.util.Collections;
import java.util.Comparator;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.SortedMap;
import java.util.TreeMap;

/**
 * An importance matrix as one file holds it: llama.cpp's {@code common_imatrix} (common/imatrix-loader.h). Entries
 * are keyed by weight name in llama.cpp's bytewise order.
 *
 * @param entries per weight name, sorted by {@link #NAME_ORDER}
 * @param datasets the calibration files it was computed on (imatrix.datasets, or the legacy trailer's one name)
 * @param chunkCount imatrix.chunk_count, or the legacy trailer's chunk count; 0 when absent
 * @param chunkSize imatrix.chunk_size (tokens per chunk); 0 for a legacy file, which does not store it
 * @param format the file format it was read from (or is meant for)
 * @param legacy true when sums and counts have the legacy meaning ({@code Σx²/count*ncall} and {@code {ncall}})
 * @param hasMetadata all three imatrix.* keys were present (llama-quantize refuses a GGUF imatrix without them)
 */
public record Imatrix(SortedMap<String, ImatrixEntry> entries, List<String> datasets, int chunkCount, int chunkSize,
                      ImatrixFormat format, boolean legacy, boolean hasMetadata) {

    /**
     * llama.cpp sorts names with std::sort on std::string: unsigned bytes of the UTF-8 encoding, which is the same
     * order as Unicode code points (String.compareTo differs for characters outside the BMP).
     */
    public static final Comparator<String> NAME_ORDER = (a, b) -> {
        int i = 0, j = 0;
        while (i < a.length() && j < b.length()) {
            int ca = a.codePointAt(i), cb = b.codePointAt(j);
            if (ca != cb) return Integer.compare(ca, cb);
            i += Character.charCount(ca);
            j += Character.charCount(cb);
        }
        return Integer.compare(a.length() - i, b.length() - j);
    };

    public Imatrix {
        TreeMap<String, ImatrixEntry> copy = new TreeMap<>(NAME_ORDER);
        for (var e : entries.entrySet()) {
            if (!e.getKey().equals(e.getValue().name())) {
                throw new IllegalArgumentException("entry key '" + e.getKey() + "' holds '" + e.getValue().name() + "'");
            }
            copy.put(e.getKey(), e.getValue());
        }
        entries = Collections.unmodifiableSortedMap(copy);
        datasets = List.copyOf(datasets);
        if (chunkCount < 0) throw new IllegalArgumentException("negative chunk count " + chunkCount);
        if (chunkSize < 0) throw new IllegalArgumentException("negative chunk size " + chunkSize);
    }

    /** An imatrix with raw sums and counts (what llama-imatrix writes as GGUF). */
    public static Imatrix raw(Map<String, ImatrixEntry> entries, List<String> datasets, int chunkCount, int chunkSize) {
        return new Imatrix(new TreeMap<>(entries), datasets, chunkCount, chunkSize, ImatrixFormat.GGUF, false, true);
    }

    public Optional<ImatrixEntry> entry(String weightName) { return Optional.ofNullable(entries.get(weightName)); }

    /** The largest count of any entry (tokens for a raw imatrix, ncall for a legacy one); 0 when empty. */
    public long maxCount() {
        long m = 0;
        for (ImatrixEntry e : entries.values()) m = Math.max(m, e.maxCount());
        return m;
    }

}
