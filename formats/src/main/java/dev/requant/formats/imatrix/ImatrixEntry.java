package dev.requant.formats.imatrix;

import java.util.Arrays;
import java.util.Objects;

/**
 * One weight's statistics as an imatrix file holds them (common_imatrix_entry in llama.cpp's imatrix-loader.h):
 * {@code sums} has {@code columns * matrices} floats, matrix-major ({@code sums[m*columns + j]}); {@code counts} has
 * one count per matrix (experts of a MUL_MAT_ID weight), or a single count.
 *
 * <p>What the numbers mean depends on the file they came from (see {@link Imatrix#legacy()}): from a GGUF imatrix
 * they are the raw Σx² and the number of rows (tokens) summed; from a legacy .dat file they are
 * {@code Σx²/count * ncall} and {@code {ncall}}.
 */
public record ImatrixEntry(String name, float[] sums, long[] counts) {
    public ImatrixEntry {
        Objects.requireNonNull(name);
        if (sums.length == 0) throw new IllegalArgumentException(name + ": no values");
        if (counts.length == 0) throw new IllegalArgumentException(name + ": no counts");
        if (sums.length % counts.length != 0) {
            throw new IllegalArgumentException(name + ": " + sums.length + " values are not a multiple of " + counts.length + " counts");
        }
    }

    /** Number of matrices (experts); 1 for a dense weight. */
    public int matrices() { return counts.length; }

    /** Values per matrix: the weight's input width (ne[0]). */
    public int columns() { return sums.length / counts.length; }

    /** The count that applies to value {@code i} (llama.cpp: counts[i / (nval / nmat)]). */
    public long countOf(int i) { return counts[i / columns()]; }

    public long maxCount() {
        long m = Long.MIN_VALUE;
        for (long c : counts) m = Math.max(m, c);
        return m;
    }

    @Override
    public boolean equals(Object o) {
        return o instanceof ImatrixEntry e && e.name.equals(name) && Arrays.equals(e.sums, sums) && Arrays.equals(e.counts, counts);
    }

    @Override
    public int hashCode() { return Objects.hash(name, Arrays.hashCode(sums), Arrays.hashCode(counts)); }

    @Override
    public String toString() { return name + " [" + columns() + " x " + matrices() + "] counts " + Arrays.toString(counts); }
}
