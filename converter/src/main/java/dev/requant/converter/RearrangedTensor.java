package dev.requant.converter;

import dev.requant.formats.ggml.GgmlType;
import java.lang.foreign.MemorySegment;
import java.util.List;
import java.util.Optional;

/**
 * A checkpoint tensor whose elements are moved (what torch's permute, reshape or index-select does in
 * convert_hf_to_gguf.py's modify_tensors) and optionally mapped element by element, computed row by row: every output
 * row takes its values from one source row, so the heap holds two rows whatever the tensor's size. The values are
 * float32 throughout, as the Python converter's are (it widens BF16 to float32 before modify_tensors).
 */
final class RearrangedTensor implements TensorRecipe {
    /** Where output element (row, column) comes from: a row of the source and a column in it. */
    interface Layout {
        long sourceRow(long row);

        int sourceColumn(long row, int column);
    }

    /** A float32 function applied to every value after the move (softplus...). */
    interface Values {
        float apply(float v);
    }

    private final CheckpointTensor source;
    private final long[] ne;
    private final Layout layout;
    private final Values values;
    private final String what;

    RearrangedTensor(CheckpointTensor source, long[] ne, Layout layout, Values values, String what) {
        long n = 1;
        for (long d : ne) n = Math.multiplyExact(n, d);
        long have = source.rows() * source.rowLength();
        if (n != have) throw new IllegalArgumentException(source.sources().getFirst() + ": " + have + " elements do not fill dims " + java.util.Arrays.toString(ne));
        this.source = source;
        this.ne = ne.clone();
        this.layout = layout;
        this.values = values;
        this.what = what;
    }

    /** Only a function of the values (the positions stay). */
    static RearrangedTensor mapped(CheckpointTensor source, Values values, String what) {
        return new RearrangedTensor(source, source.ne(), new Layout() {
            @Override public long sourceRow(long row) { return row; }

            @Override public int sourceColumn(long row, int column) { return column; }
        }, values, what);
    }

    @Override public List<String> sources() { return source.sources(); }

    @Override public String transform() { return what; }

    @Override public String sourceType() { return source.sourceType(); }

    @Override public long[] ne() { return ne.clone(); }

    /** Always computed. */
    @Override
    public Optional<MemorySegment> stored(GgmlType type) {
        return Optional.empty();
    }

    @Override
    public void readRows(long row, int count, float[] dst) {
        int n = Math.toIntExact(rowLength());
        float[] src = new float[Math.toIntExact(source.rowLength())];
        long loaded = -1;
        for (int r = 0; r < count; r++) {
            long out = row + r;
            long s = layout.sourceRow(out);
            if (s != loaded) {
                source.readRows(s, 1, src);
                loaded = s;
            }
            for (int j = 0; j < n; j++) {
                float v = src[layout.sourceColumn(out, j)];
                dst[r * n + j] = values == null ? v : values.apply(v);
            }
        }
    }
}
