package dev.requant.converter.quantize;

import dev.requant.formats.ggml.BlockCodec;
import dev.requant.formats.ggml.FiniteCheck;
import dev.requant.formats.ggml.GgmlType;
import dev.requant.formats.ggml.RowSource;
import java.lang.foreign.MemorySegment;

/**
 * Rows of an F32/F16/BF16 tensor widened to float and checked for NaN/Inf as they are read (llama.cpp validates every
 * tensor it loads, ggml_validate_row_data): row by row, so each row is checked while it is still in the L1/L2 cache
 * rather than after a whole multi-megabyte chunk has been widened.
 */
final class CheckedRows implements RowSource {
    /** A non-finite value, thrown from encoder threads and reported as a {@link QuantizeException}. */
    static final class InvalidData extends RuntimeException {
        InvalidData(String message) { super(message); }
    }

    private final MemorySegment data;
    private final BlockCodec codec;
    private final int n;
    private final long rows;
    private final long rowBytes;
    private final String where;

    CheckedRows(MemorySegment data, GgmlType type, int n, long rows, String where) {
        if (type != GgmlType.F32 && type != GgmlType.F16 && type != GgmlType.BF16) throw new IllegalArgumentException(type.name());
        this.data = data;
        this.codec = BlockCodec.of(type);
        this.n = n;
        this.rows = rows;
        this.rowBytes = type.rowBytes(n);
        this.where = where;
    }

    @Override public int rowLength() { return n; }

    @Override public long rows() { return rows; }

    @Override
    public void read(long first, int count, float[] dst) {
        for (int i = 0; i < count; i++) {
            codec.decode(data, (first + i) * rowBytes, dst, i * n, n);
            if (!FiniteCheck.allFinite(dst, i * n, (i + 1) * n)) {
                int bad = FiniteCheck.firstNonFinite(dst, i * n, (i + 1) * n);
                throw new InvalidData(where + " has invalid data (element " + ((first + i) * n + bad - i * n) + " is " + dst[bad] + ")");
            }
        }
    }
}
