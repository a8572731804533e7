package dev.requant.formats.ggml;

import java.lang.foreign.MemorySegment;

/**
 * Rows of a 2-D (or flattened 3-D) tensor as floats, for {@link TensorEncoder}. {@link #read} is called from several
 * threads at once for different rows, so implementations must not keep per-call state.
 */
public interface RowSource {
    /** Elements per row (ne[0]). */
    int rowLength();

    /** Number of rows (ne[1]*ne[2]*ne[3]). */
    long rows();

    /** Writes rows {@code first .. first+count-1} into {@code dst[0 .. count*rowLength())}, exactly as llama.cpp widens them. */
    void read(long first, int count, float[] dst);

    /**
     * Rows stored in any GGML type with a codec, decoded with {@link BlockCodec#of} (BF16 and F16 widen exactly, F32 is
     * copied, quantized types are dequantized as ggml's to_float does).
     */
    static RowSource of(MemorySegment data, GgmlType type, int rowLength, long rows) {
        long rowBytes = type.rowBytes(rowLength);
        if (data.byteSize() < rowBytes * rows) {
            throw new IllegalArgumentException(rows + " rows of " + rowLength + " " + type.ggmlName() + " take "
                    + rowBytes * rows + " bytes; the data has " + data.byteSize());
        }
        BlockCodec codec = BlockCodec.of(type);
        return new RowSource() {
            @Override public int rowLength() { return rowLength; }

            @Override public long rows() { return rows; }

            @Override
            public void read(long first, int count, float[] dst) {
                if (type == GgmlType.BF16) {
                    Bf16Rows.toFloat(data, first * rowBytes, dst, 0, Math.multiplyExact(count, rowLength));
                    return;
                }
                for (int i = 0; i < count; i++) codec.decode(data, (first + i) * rowBytes, dst, i * rowLength, rowLength);
            }
        };
    }

    /** Raw BF16 rows (a GGUF BF16 tensor or a safetensors BF16 tensor, row-major). */
    static RowSource ofBf16(MemorySegment data, int rowLength, long rows) {
        return of(data, GgmlType.BF16, rowLength, rows);
    }

    /** Rows held in a float array (row-major, {@code rows*rowLength} long). */
    static RowSource ofFloats(float[] values, int rowLength) {
        if (rowLength <= 0 || values.length % rowLength != 0) {
            throw new IllegalArgumentException(values.length + " values are not whole rows of " + rowLength);
        }
        long rows = values.length / rowLength;
        return new RowSource() {
            @Override public int rowLength() { return rowLength; }

            @Override public long rows() { return rows; }

            @Override
            public void read(long first, int count, float[] dst) {
                System.arraycopy(values, Math.toIntExact(first * rowLength), dst, 0, count * rowLength);
            }
        };
    }
}
