package dev.requant.formats.imatrix;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;

/**
 * The running state of llama-imatrix ({@code IMatrixCollector} in tools/imatrix/imatrix.cpp): per weight the float32
 * sums of x² per input column and the int64 row counts, the datasets of loaded files, and the chunk size that turns
 * counts into chunks. Loading files ({@link #load}) combines them as {@code llama-imatrix --in-file a --in-file b}
 * does; collection adds activation rows ({@link #addDense}, {@link #addExperts}) in llama.cpp's order, so the float
 * sums round the same way; {@link #snapshot} is what save_imatrix writes.
 *
 * <p>Not thread-safe: llama.cpp serialises its callback with a mutex, and so must a caller.
 */
public final class ImatrixAccumulator {
    private final int chunkSize;
    private final Map<String, Stats> stats = new HashMap<>();
    private final List<String> datasets = new ArrayList<>();

    /** @param chunkSize tokens per chunk: llama-imatrix's {@code n_ctx / n_parallel}, i.e. its {@code -c} */
    public ImatrixAccumulator(int chunkSize) {
        if (chunkSize <= 0) throw new IllegalArgumentException("chunk size must be positive, got " + chunkSize);
        this.chunkSize = chunkSize;
    }

    public int chunkSize() { return chunkSize; }

    /** One weight's running sums and counts. The arrays are live: a GPU collector may upload and replace the sums. */
    public static final class Stats {
        private float[] values;
        private long[] counts;

        private Stats(float[] values, long[] counts) {
            this.values = values;
            this.counts = counts;
        }

        public float[] values() { return values; }

        public long[] counts() { return counts; }

        public boolean isEmpty() { return values.length == 0; }
    }

    /** The stats of a weight, created empty (no values, no counts) when unseen. */
    public Stats stats(String name) {
        return stats.computeIfAbsent(name, k -> new Stats(new float[0], new long[0]));
    }

    public int size() { return stats.size(); }

    /**
     * Adds a file's contents as load_imatrix does. GGUF (raw) entries add their sums and counts; a single stored count
     * is broadcast to several experts. Legacy entries are turned back into raw numbers with this accumulator's chunk
     * size: {@code values += stored * chunk_size}, {@code counts += ncall * chunk_size}. The file's datasets are
     * appended.
     *
     * @throws IllegalArgumentException naming the weight when the sizes do not match what is already held
     */
    public void load(Imatrix im) {
        for (ImatrixEntry entry : im.entries().values()) {
            String name = entry.name();
            Stats e = stats(name);
            float[] sums = entry.sums();
            if (im.legacy()) {
                if (e.isEmpty()) {
                    e.values = new float[sums.length];
                    e.counts = new long[1];
                } else if (e.values.length != sums.length) {
                    throw new IllegalArgumentException("mismatched sums size for " + name + ": " + sums.length + " != " + e.values.length);
                }
                float cs = (float) chunkSize;
                for (int j = 0; j < sums.length; j++) e.values[j] += sums[j] * cs;
                for (int j = 0; j < e.counts.length; j++) e.counts[j] += entry.counts()[0] * chunkSize;
            } else {
                int ncounts = entry.counts().length;
                if (e.isEmpty()) {
                    e.values = new float[sums.length];
                } else if (sums.length != e.values.length) {
                    throw new IllegalArgumentException("mismatched sums size for " + name + ": " + sums.length + " != " + e.values.length);
                }
                if (e.counts.length == 0) {
                    e.counts = new long[ncounts];
                } else if (e.counts.length == 1 && ncounts > 1) {
                    long c = e.counts[0];
                    e.counts = new long[ncounts];
                    Arrays.fill(e.counts, c);
                } else if (ncounts != e.counts.length) {
                    throw new IllegalArgumentException("mismatched counts size for " + name + ": " + ncounts + " != " + e.counts.length);
                }
                for (int j = 0; j < sums.length; j++) e.values[j] += sums[j];
                for (int j = 0; j < ncounts; j++) e.counts[j] += entry.counts()[j];
            }
        }
        datasets.addAll(im.datasets());
    }

    /**
     * The dense MUL_MAT path of collect_imatrix with one matrix: for every row x of the activation (a token),
     * {@code values[j] += x[j]*x[j]} in float32, rows in order; the count grows by the number of rows. This is the
     * scalar reference every faster collector is checked against.
     *
     * @param x {@code rows * columns} floats, row-major (the F32 input of the matmul, src1)
     */
    public void addDense(String name, float[] x, int rows, int columns) {
        addDense(name, x, 0, rows, columns);
    }

    /** {@link #addDense(String, float[], int, int)} over the rows that start at {@code x[offset]}. */
    public void addDense(String name, float[] x, int offset, int rows, int columns) {
        Stats e = stats(name);
        // A dense weight keeps a single count (llama.cpp collapses equal per-expert counts left by an old file).
        if (e.counts.length > 1) {
            boolean allEqual = true;
            for (long c : e.counts) allEqual &= c == e.counts[0];
            if (allEqual) e.counts = new long[] {e.counts[0]};
        }
        if (e.isEmpty()) {
            e.values = new float[columns];
            e.counts = new long[1];
        } else if (e.values.length != columns) {
            throw new IllegalArgumentException("inconsistent size for " + name + " (" + e.values.length + " vs " + columns + ")");
        }
        float[] v = e.values;
        for (int r = 0; r < rows; r++) {
            int base = offset + r * columns;
            for (int j = 0; j < columns; j++) {
                float xj = x[base + j];
                v[j] += xj * xj;
            }
        }
        for (int i = 0; i < e.counts.length; i++) e.counts[i] += rows;
    }

    /**
     * The entry of a stacked expert weight, sized for {@code experts} matrices of {@code columns} on first use (a single
     * count already there, from a file or a dense call, is copied to every expert), and checked on every later call.
     */
    private Stats expertStats(String name, int experts, int columns) {
        Stats e = stats(name);
        if (e.counts.length == 1 && experts > 1) {
            long c = e.counts[0];
            e.counts = new long[experts];
            Arrays.fill(e.counts, c);
        }
        if (e.isEmpty()) {
            e.values = new float[columns * experts];
            e.counts = new long[experts];
        } else if (e.values.length != columns * experts) {
            throw new IllegalArgumentException("inconsistent size for " + name + " (" + e.values.length + " vs " + columns * experts + ")");
        } else if (e.counts.length != experts) {
            throw new IllegalArgumentException("inconsistent expert count for " + name + " (" + e.counts.length + " vs " + experts + ")");
        }
        return e;
    }

    /**
     * The rows one expert of a stacked (MUL_MAT_ID) weight received, as a backend that groups rows by expert reports
     * them: {@code values[expert*columns + j] += x²} per row in order, {@code counts[expert] += rows}. The same sums
     * as {@link #addExperts} up to the order of additions across tokens.
     */
    public void addExpertRows(String name, int expert, int experts, float[] x, int offset, int rows, int columns) {
        if (expert < 0 || expert >= experts) throw new IllegalArgumentException("expert " + expert + " out of range for " + name);
        Stats e = expertStats(name, experts, columns);
        int start = expert * columns;
        for (int r = 0; r < rows; r++) {
            int base = offset + r * columns;
            for (int j = 0; j < columns; j++) {
                float xj = x[base + j];
                e.values[start + j] += xj * xj;
            }
        }
        e.counts[expert] += rows;
    }

    /**
     * The MUL_MAT_ID (experts) path of collect_imatrix: for each expert, for each selected slot, for each token whose
     * slot holds that expert: {@code values[ex*columns + j] += x²} and {@code counts[ex] += 1}, in that loop order.
     *
     * @param x the expert inputs, {@code tokens * inputRows * columns} floats; {@code inputRows} is 1 (one row per
     *     token, broadcast to every slot) or {@code slots}
     * @param ids the selected experts, {@code tokens * slots}
     */
    public void addExperts(String name, float[] x, int tokens, int inputRows, int columns, int[] ids, int slots, int experts) {
        if (inputRows != 1 && inputRows != slots) throw new IllegalArgumentException("inputRows must be 1 or " + slots);
        Stats e = expertStats(name, experts, columns);
        for (int ex = 0; ex < experts; ex++) {
            int start = ex * columns;
            for (int slot = 0; slot < slots; slot++) {
                for (int t = 0; t < tokens; t++) {
                    int id = ids[t * slots + slot];
                    if (id < 0 || id >= experts) throw new IllegalArgumentException("expert id " + id + " out of range for " + name);
                    if (id != ex) continue;
                    int base = (t * inputRows + slot % inputRows) * columns;
                    e.counts[ex]++;
                    for (int j = 0; j < columns; j++) {
                        float xj = x[base + j];
                        e.values[start + j] += xj * xj;
                    }
                }
            }
        }
    }

    /** llama-imatrix's m_last_chunk: the largest count divided by the chunk size. */
    public int lastChunk() {
        long max = 0;
        for (Stats s : stats.values()) for (long c : s.counts) max = Math.max(max, c);
        return (int) (max / chunkSize);
    }

    /**
     * What save_imatrix writes now: every weight that has values, the loaded datasets followed by {@code promptFile}
     * (null or empty when nothing was collected from a text), chunk_count = {@link #lastChunk()}.
     */
    public Imatrix snapshot(String promptFile) {
        TreeMap<String, ImatrixEntry> out = new TreeMap<>(Imatrix.NAME_ORDER);
        for (var s : stats.entrySet()) {
            Stats st = s.getValue();
            if (st.values.length == 0 || st.counts.length == 0) continue;
            out.put(s.getKey(), new ImatrixEntry(s.getKey(), st.values.clone(), st.counts.clone()));
        }
        List<String> ds = new ArrayList<>(datasets);
        if (promptFile != null && !promptFile.isEmpty()) ds.add(promptFile);
        return new Imatrix(out, ds, lastChunk(), chunkSize, ImatrixFormat.GGUF, false, true);
    }
}
