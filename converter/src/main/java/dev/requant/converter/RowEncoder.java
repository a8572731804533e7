package dev.requant.converter;

import dev.requant.formats.ggml.BlockCodec;
import dev.requant.formats.ggml.GgmlType;
import java.lang.foreign.MemorySegment;

/**
 * Turns float32 rows into one GGML type's bytes. The default is the type's reference {@link BlockCodec}; a type rule
 * may pick another encoder for the same type (a lattice-aware Q4_0 for QAT weights, say) without touching the plan's
 * other parts.
 */
public interface RowEncoder {
    GgmlType type();

    /** Encodes one row of {@code n} values (a multiple of the type's block size) at byte {@code dstOffset}. */
    void encodeRow(float[] src, int srcOffset, int n, MemorySegment dst, long dstOffset);

    /** A short name for the dry-run ("q8_0 reference"). */
    String name();

    static RowEncoder reference(GgmlType type) {
        BlockCodec codec = BlockCodec.of(type);
        return new RowEncoder() {
            @Override public GgmlType type() { return type; }

            @Override
            public void encodeRow(float[] src, int srcOffset, int n, MemorySegment dst, long dstOffset) {
                codec.encodeRow(src, srcOffset, n, null, dst, dstOffset);
            }

            @Override public String name() { return type.ggmlName() + " reference"; }
        };
    }
}
