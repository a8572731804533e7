package dev.requant.formats.ggml;

import dev.requant.formats.io.LittleEndian;
import java.lang.foreign.MemorySegment;

/**
 * One IQ1/IQ2/IQ3 super-block as ggml's dequantize_row_iq* read it: 32 groups of 8 elements, each with a scale, the
 * offsets in its grid's value table of its first and last 4 values (one 8-element point, or two 4-element points for
 * IQ3), and its 8 sign bits (IQ2, IQ3) or its delta (IQ1). The codecs fill it from a block's bytes; the writes below
 * (or {@link VectorIqCodecs}'s, bit for bit the same) turn it into floats.
 */
final class IqGroups {
    final float[] scale = new float[32];
    final int[] lo = new int[32];
    final int[] hi = new int[32];
    final int[] signs = new int[32];
    final float[] delta = new float[32];

    /** Group k is the 8-element point {@code point} of an 8-wide grid. */
    void point8(int k, float scale, int point) {
        this.scale[k] = scale;
        lo[k] = 8 * point;
        hi[k] = 8 * point + 4;
    }

    /** {@code y = scale * value}, negated where the sign bit is set (IQ2, IQ3): ggml's {@code db * grid[j] * (+-1.f)}. */
    void writeSigned(float[] values, float[] dst, int y) {
        for (int k = 0; k < 32; k++, y += 8) {
            float s = scale[k];
            int sg = signs[k];
            for (int j = 0; j < 4; j++) {
                float v = s * values[lo[k] + j];
                dst[y + j] = (sg & (1 << j)) != 0 ? -v : v;
            }
            for (int j = 0; j < 4; j++) {
                float v = s * values[hi[k] + j];
                dst[y + 4 + j] = (sg & (16 << j)) != 0 ? -v : v;
            }
        }
    }

    /** {@code y = scale * (value + delta)} (IQ1). */
    void writeShifted(float[] values, float[] dst, int y) {
        for (int k = 0; k < 32; k++, y += 8) {
            float s = scale[k], d = delta[k];
            for (int j = 0; j < 4; j++) dst[y + j] = s * (values[lo[k] + j] + d);
            for (int j = 0; j < 4; j++) dst[y + 4 + j] = s * (values[hi[k] + j] + d);
        }
    }

    /**
     * The decode shared by the IQ codecs: each block's groups, then the write. Subclasses in {@link VectorIqCodecs}
     * replace only {@link #write}.
     */
    abstract static class Codec implements BlockCodec {
        static final int QK_K = 256;

        /** Fills {@code g} from the block at {@code blk[0..]}. */
        abstract void groups(byte[] blk, IqGroups g);

        abstract IqGrid grid();

        /** IQ1's {@code scale * (value + delta)} instead of a signed {@code scale * value}. */
        boolean shifted() { return false; }

        void write(IqGroups g, float[] values, float[] dst, int y) {
            if (shifted()) g.writeShifted(values, dst, y);
            else g.writeSigned(values, dst, y);
        }

        @Override public boolean usesImportance() { return true; }

        @Override
        public final void decode(MemorySegment src, long srcOffset, float[] dst, int dstOffset, int n) {
            int bytes = type().typeSize();
            byte[] blk = new byte[bytes];
            IqGroups g = new IqGroups();
            float[] values = grid().values;
            for (int i = 0; i < n / QK_K; i++) {
                MemorySegment.copy(src, LittleEndian.BYTE, srcOffset + (long) i * bytes, blk, 0, bytes);
                groups(blk, g);
                write(g, values, dst, dstOffset + i * QK_K);
            }
        }
    }
}
