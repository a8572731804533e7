package dev.requant.formats.ggml;

import dev.requant.formats.io.LittleEndian;
import java.lang.foreign.MemorySegment;
import java.util.Map;
import jdk.incubator.vector.ByteVector;
import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.IntVector;
import jdk.incubator.vector.VectorMask;
import jdk.incubator.vector.VectorOperators;
import jdk.incubator.vector.VectorSpecies;

/**
 * Vector API codecs of Q1_0, Q2_0, TQ1_0, TQ2_0, Q2_K, Q3_K, IQ4_NL and IQ4_XS: every decoder and every encoder but
 * Q1_0's (a sum and a sign test, already several times faster than ggml's); the searching encoders are in
 * {@link VectorKQuants} (Q2_K, Q3_K) and {@link VectorIq4}. Kernels run V float lanes (8 or 16, the preferred species)
 * over the elements a block stores side by side, with the scalar code's arithmetic (same products, same order, roundf
 * as C rounds), so floats and bytes are bit-identical; a block holding Inf or NaN, or whose 1/amax overflows, goes
 * through the scalar code, whose C-style conversions of such values lanes do not reproduce.
 */
final class VectorLowBitCodecs {
    private VectorLowBitCodecs() {}

    private static final VectorSpecies<Float> F = FloatVector.SPECIES_PREFERRED;
    private static final VectorSpecies<Integer> I = IntVector.SPECIES_PREFERRED;
    private static final int V = F.length();
    private static final VectorSpecies<Byte> B = V == 16 ? ByteVector.SPECIES_128 : ByteVector.SPECIES_64;
    /** kvalues_iq4nl as ints, in one vector (16 lanes) or two (8 lanes), for selectFrom. */
    private static final int[] LEVELS = new int[16];
    /** 2*lane: the shift of element j+lane's two bits in a little-endian word of Q2_0 codes. */
    private static final int[] TWO_BIT_SHIFTS = new int[16];

    static {
        for (int k = 0; k < 16; k++) {
            LEVELS[k] = IQ4_NLCodec.KVALUES[k];
            TWO_BIT_SHIFTS[k] = 2 * k;
        }
    }

    static boolean supported() {
        return F.length() == I.length() && (V == 8 || V == 16) && VectorKQuants.supported() && VectorIq4.supported();
    }

    static void register(Map<GgmlType, BlockCodec> codecs) {
        if (!supported()) return;
        codecs.put(GgmlType.Q1_0, new FastQ1_0());
        codecs.put(GgmlType.Q2_0, new FastQ2_0());
        codecs.put(GgmlType.TQ1_0, new FastTQ1_0());
        codecs.put(GgmlType.TQ2_0, new FastTQ2_0());
        codecs.put(GgmlType.Q2_K, new FastQ2_K());
        codecs.put(GgmlType.Q3_K, new FastQ3_K());
        codecs.put(GgmlType.Q4_K, new FastQ4_K());
        codecs.put(GgmlType.Q5_K, new FastQ5_K());
        codecs.put(GgmlType.Q6_K, new FastQ6_K());
        codecs.put(GgmlType.IQ4_NL, new FastIQ4_NL());
        codecs.put(GgmlType.IQ4_XS, new FastIQ4_XS());
    }

    /** V bytes of {@code src} at {@code at} as ints 0..255. */
    private static IntVector bytes(MemorySegment src, long at) {
        return ((IntVector) ByteVector.fromMemorySegment(B, src, at, java.nio.ByteOrder.LITTLE_ENDIAN)
                .convertShape(VectorOperators.B2I, I, 0)).and(0xFF);
    }

    private static IntVector bytes(byte[] src, int at) {
        return ((IntVector) ByteVector.fromArray(B, src, at).convertShape(VectorOperators.B2I, I, 0)).and(0xFF);
    }

    private static FloatVector toFloat(IntVector v) {
        return (FloatVector) v.convert(VectorOperators.I2F, 0);
    }

    /** kvalues_iq4nl[idx] for each lane (idx 0..15). */
    private static IntVector level(IntVector idx) {
        if (V == 16) return idx.selectFrom(IntVector.fromArray(I, LEVELS, 0));
        return idx.selectFrom(IntVector.fromArray(I, LEVELS, 0), IntVector.fromArray(I, LEVELS, 8));
    }

    /** The largest |x| of {@code n} floats (n a multiple of V); Inf or NaN anywhere makes it Inf or NaN-like (>= Inf bits). */
    private static float absMax(float[] x, int o, int n) {
        IntVector m = FloatVector.fromArray(F, x, o).reinterpretAsInts().and(0x7FFFFFFF);
        for (int k = V; k < n; k += V) m = m.max(FloatVector.fromArray(F, x, o + k).reinterpretAsInts().and(0x7FFFFFFF));
        return Float.intBitsToFloat(m.reduceLanes(VectorOperators.MAX));
    }

    /**
     * TQ1_0/TQ2_0's scale for a finite block: stores d = fp16(amax) and returns 1/amax (0 for amax 0); NaN when the
     * block holds Inf or NaN or 1/amax overflows (a subnormal amax), which the scalar code handles.
     */
    private static float ternaryInverseScale(float[] x, int o, MemorySegment dst, long dOffset) {
        float amax = absMax(x, o, 256);
        float id = amax != 0 ? 1.0f / amax : 0.0f;
        if (!(amax < Float.POSITIVE_INFINITY) || id == Float.POSITIVE_INFINITY) return Float.NaN;
        dst.set(LittleEndian.SHORT, dOffset, Float16.fromFloat(amax));
        return id;
    }

    /** C roundf (half away from zero) of finite lanes well inside the int range, as ints. */
    private static IntVector roundHalfAway(FloatVector v) {
        FloatVector a = v.abs();
        IntVector t = (IntVector) a.convert(VectorOperators.F2I, 0);
        FloatVector frac = a.sub((FloatVector) t.convert(VectorOperators.I2F, 0)); // exact
        IntVector r = t.add(1, frac.compare(VectorOperators.GE, 0.5f).cast(I));
        return r.lanewise(VectorOperators.NEG, v.compare(VectorOperators.LT, 0f).cast(I));
    }

    static final class FastQ1_0 extends Q1_0Codec {
        @Override
        public void decode(MemorySegment src, long srcOffset, float[] dst, int dstOffset, int n) {
            for (int b = 0; b < n / QK; b++) {
                long base = srcOffset + (long) b * BLOCK_BYTES;
                float d = Float16.toFloat(src.get(LittleEndian.SHORT, base));
                FloatVector neg = FloatVector.broadcast(F, -d);
                int o = dstOffset + b * QK;
                for (int j = 0; j < QK; j += V) {
                    long bits = src.get(LittleEndian.BYTE, base + 2 + j / 8) & 0xFFL;
                    if (V == 16) bits |= (src.get(LittleEndian.BYTE, base + 3 + j / 8) & 0xFFL) << 8;
                    neg.blend(d, VectorMask.fromLong(F, bits)).intoArray(dst, o + j);
                }
            }
        }
    }

    static final class FastQ2_0 extends Q2_0Codec {
        @Override
        public void decode(MemorySegment src, long srcOffset, float[] dst, int dstOffset, int n) {
            IntVector shifts = IntVector.fromArray(I, TWO_BIT_SHIFTS, 0);
            for (int b = 0; b < n / QK; b++) {
                long base = srcOffset + (long) b * BLOCK_BYTES;
                float d = Float16.toFloat(src.get(LittleEndian.SHORT, base));
                int o = dstOffset + b * QK;
                for (int j = 0; j < QK; j += V) {
                    int word = V == 16 ? src.get(LittleEndian.INT, base + 2 + j / 4)
                            : src.get(LittleEndian.SHORT, base + 2 + j / 4) & 0xFFFF;
                    IntVector q = IntVector.broadcast(I, word).lanewise(VectorOperators.LSHR, shifts).and(3).sub(1);
                    toFloat(q).mul(d).intoArray(dst, o + j);
                }
            }
        }

        @Override
        public void encodeRow(float[] x, int xo, int n, float[] importance, MemorySegment dst, long dstOffset) {
            IntVector shifts = IntVector.fromArray(I, TWO_BIT_SHIFTS, 0);
            for (int b = 0; b < n / QK; b++) {
                int o = xo + b * QK;
                long base = dstOffset + (long) b * BLOCK_BYTES;
                float amax = absMax(x, o, QK);
                float id = amax > 0.0f ? 1.0f / amax : 0.0f;
                if (!(amax < Float.POSITIVE_INFINITY) || id == Float.POSITIVE_INFINITY) { // Inf or NaN, or 1/amax overflows
                    encodeBlock(x, o, dst, base);
                    continue;
                }
                dst.set(LittleEndian.SHORT, base, Float16.fromFloat(amax));
                for (int j = 0; j < QK; j += V) {
                    IntVector q = roundHalfAway(FloatVector.fromArray(F, x, o + j).mul(id)).add(1).max(0).min(3);
                    int word = q.lanewise(VectorOperators.LSHL, shifts).reduceLanes(VectorOperators.OR);
                    if (V == 16) dst.set(LittleEndian.INT, base + 2 + j / 4, word);
                    else dst.set(LittleEndian.SHORT, base + 2 + j / 4, (short) word);
                }
            }
        }
    }

    static final class FastTQ1_0 extends TQ1_0Codec {
        private static final int[] POW3 = {1, 3, 9, 27, 81};

        @Override
        public void decode(MemorySegment src, long srcOffset, float[] dst, int dstOffset, int n) {
            for (int b = 0; b < n / QK_K; b++) {
                long base = srcOffset + (long) b * BLOCK_BYTES;
                float d = Float16.toFloat(src.get(LittleEndian.SHORT, base + D));
                int y = dstOffset + b * QK_K;
                for (int part = 0; part < 2; part++) { // qs[0..32): 5 x 32 elements, qs[32..48): 5 x 16
                    int width = part == 0 ? 32 : 16, first = part == 0 ? 0 : 32;
                    for (int nn = 0; nn < 5; ++nn) {
                        for (int m = 0; m < width; m += V) {
                            IntVector q = bytes(src, base + first + m).mul(POW3[nn]).and(0xFF);
                            IntVector xi = q.mul(3).lanewise(VectorOperators.ASHR, 8).sub(1);
                            toFloat(xi).mul(d).intoArray(dst, y + m);
                        }
                        y += width;
                    }
                }
                for (int nn = 0; nn < 4; ++nn) { // qh: 4 x 4 elements, too few for a vector
                    for (int j = 0; j < 4; ++j) dst[y++] = (float) (tritOf(src.get(LittleEndian.BYTE, base + QH + j) & 0xFF, nn) - 1) * d;
                }
            }
        }

        @Override
        public void encodeRow(float[] x, int xo, int n, float[] importance, MemorySegment dst, long dstOffset) {
            for (int b = 0; b < n / QK_K; b++) {
                int o = xo + b * QK_K;
                long base = dstOffset + (long) b * BLOCK_BYTES;
                float id = ternaryInverseScale(x, o, dst, base + D);
                if (Float.isNaN(id)) {
                    encodeBlock(x, o, dst, base);
                    continue;
                }
                for (int part = 0; part < 2; part++) { // qs[0..32): elements m + 32n, qs[32..48): 160 + m + 16n
                    int width = part == 0 ? 32 : 16, first = part == 0 ? 0 : 160;
                    for (int m = 0; m < width; m += V) {
                        IntVector q = IntVector.zero(I);
                        for (int nn = 0; nn < 5; ++nn) {
                            IntVector trit = roundHalfAway(FloatVector.fromArray(F, x, o + first + m + width * nn).mul(id)).add(1);
                            q = q.mul(3).add(trit);
                        }
                        // ceil(q * 256 / 243): the float quotient of numbers below 2^16 truncates to the integer one
                        FloatVector num = toFloat(q.mul(256).add(243 - 1));
                        IntVector packed = (IntVector) num.div(243f).convert(VectorOperators.F2I, 0);
                        ((ByteVector) packed.convertShape(VectorOperators.I2B, B, 0)).intoMemorySegment(dst, base + (part == 0 ? 0 : 32) + m,
                                java.nio.ByteOrder.LITTLE_ENDIAN);
                    }
                }
                for (int j = 0; j < 4; ++j) dst.set(LittleEndian.BYTE, base + QH + j, pack(x, o + 240 + j, 4, 4, id, true));
            }
        }
    }

    static final class FastTQ2_0 extends TQ2_0Codec {
        @Override
        public void decode(MemorySegment src, long srcOffset, float[] dst, int dstOffset, int n) {
            for (int b = 0; b < n / QK_K; b++) {
                long base = srcOffset + (long) b * BLOCK_BYTES;
                float d = Float16.toFloat(src.get(LittleEndian.SHORT, base + D));
                int y = dstOffset + b * QK_K;
                for (int j = 0; j < 64; j += 32) {
                    for (int l = 0; l < 4; ++l) {
                        for (int m = 0; m < 32; m += V) {
                            IntVector q = bytes(src, base + j + m).lanewise(VectorOperators.LSHR, 2 * l).and(3).sub(1);
                            toFloat(q).mul(d).intoArray(dst, y + m);
                        }
                        y += 32;
                    }
                }
            }
        }

        @Override
        public void encodeRow(float[] x, int xo, int n, float[] importance, MemorySegment dst, long dstOffset) {
            for (int b = 0; b < n / QK_K; b++) {
                int o = xo + b * QK_K;
                long base = dstOffset + (long) b * BLOCK_BYTES;
                float id = ternaryInverseScale(x, o, dst, base + D);
                if (Float.isNaN(id)) {
                    encodeBlock(x, o, dst, base);
                    continue;
                }
                for (int j = 0; j < 64; j += 32) { // byte j + m: elements 4j + m + 32n in bits 2n
                    for (int m = 0; m < 32; m += V) {
                        IntVector q = IntVector.zero(I);
                        for (int nn = 0; nn < 4; ++nn) {
                            IntVector trit = roundHalfAway(FloatVector.fromArray(F, x, o + 4 * j + m + 32 * nn).mul(id)).add(1);
                            q = q.or(trit.and(3).lanewise(VectorOperators.LSHL, 2 * nn));
                        }
                        ((ByteVector) q.convertShape(VectorOperators.I2B, B, 0)).intoMemorySegment(dst, base + j + m,
                                java.nio.ByteOrder.LITTLE_ENDIAN);
                    }
                }
            }
        }
    }

    static final class FastQ2_K extends Q2_KCodec {
        @Override
        public void decode(MemorySegment src, long srcOffset, float[] dst, int dstOffset, int n) {
            byte[] blk = new byte[BLOCK_BYTES];
            for (int i = 0; i < n / QK_K; i++) {
                MemorySegment.copy(src, LittleEndian.BYTE, srcOffset + (long) i * BLOCK_BYTES, blk, 0, BLOCK_BYTES);
                float d = Float16.toFloat(Q4_KCodec.getShort(blk, D));
                float min = Float16.toFloat(Q4_KCodec.getShort(blk, DMIN));
                int y = dstOffset + i * QK_K;
                int is = 0;
                for (int h = 0; h < 2; h++) {
                    for (int shift = 0; shift < 8; shift += 2) {
                        for (int half = 0; half < 32; half += 16) {
                            int sc = blk[is++] & 0xFF;
                            float dl = d * (sc & 0xF);
                            float ml = min * (sc >> 4);
                            for (int l = 0; l < 16; l += V) {
                                IntVector q = bytes(blk, QS + 32 * h + half + l).lanewise(VectorOperators.LSHR, shift).and(3);
                                toFloat(q).mul(dl).sub(ml).intoArray(dst, y + l);
                            }
                            y += 16;
                        }
                    }
                }
            }
        }

        @Override
        public void encodeRow(float[] x, int xo, int n, float[] importance, MemorySegment dst, long dstOffset) {
            if (!VectorKQuants.encodeQ2_K(x, xo, n, importance, dst, dstOffset)) super.encodeRow(x, xo, n, importance, dst, dstOffset);
        }

        /** Row by row (the kernel has its lanes within a row): not the scalar codec's run of rows. */
        @Override
        public void encodeRows(float[] x, int xo, int n, int rows, float[] importance, MemorySegment dst, long dstOffset) {
            for (int r = 0; r < rows; r++) encodeRow(x, xo + r * n, n, importance, dst, dstOffset + r * rowBytes(n));
        }
    }

    static final class FastQ3_K extends Q3_KCodec {
        @Override
        public void decode(MemorySegment src, long srcOffset, float[] dst, int dstOffset, int n) {
            byte[] blk = new byte[BLOCK_BYTES];
            for (int i = 0; i < n / QK_K; i++) {
                MemorySegment.copy(src, LittleEndian.BYTE, srcOffset + (long) i * BLOCK_BYTES, blk, 0, BLOCK_BYTES);
                float dAll = Float16.toFloat(Q4_KCodec.getShort(blk, D));
                int y = dstOffset + i * QK_K;
                int is = 0;
                int m = 1;
                for (int h = 0; h < 2; h++) {
                    for (int shift = 0; shift < 8; shift += 2) {
                        for (int half = 0; half < 32; half += 16) {
                            float dl = dAll * scale(is++, blk);
                            for (int l = 0; l < 16; l += V) {
                                IntVector lo = bytes(blk, QS + 32 * h + half + l).lanewise(VectorOperators.LSHR, shift).and(3);
                                VectorMask<Integer> high = bytes(blk, half + l).and(m).compare(VectorOperators.NE, 0);
                                toFloat(lo.sub(4, high.not())).mul(dl).intoArray(dst, y + l);
                            }
                            y += 16;
                        }
                        m <<= 1;
                    }
                }
            }
        }

        @Override
        public void encodeRow(float[] x, int xo, int n, float[] importance, MemorySegment dst, long dstOffset) {
            if (!VectorKQuants.encodeQ3_K(x, xo, n, importance, dst, dstOffset)) super.encodeRow(x, xo, n, importance, dst, dstOffset);
        }

        /** Row by row (the kernel has its lanes within a row): not the scalar codec's run of rows. */
        @Override
        public void encodeRows(float[] x, int xo, int n, int rows, float[] importance, MemorySegment dst, long dstOffset) {
            for (int r = 0; r < rows; r++) encodeRow(x, xo + r * n, n, importance, dst, dstOffset + r * rowBytes(n));
        }
    }

    /** Q4_K with the vector sub-block fits (the decoder is the scalar one). */
    static final class FastQ4_K extends Q4_KCodec {
        @Override
        public void encodeRow(float[] x, int xo, int n, float[] importance, MemorySegment dst, long dstOffset) {
            if (!VectorKQuants.encodeQ45_K(false, x, xo, n, importance, dst, dstOffset)) super.encodeRow(x, xo, n, importance, dst, dstOffset);
        }

        /** Row by row (the kernel has its lanes within a row): not the scalar codec's run of rows. */
        @Override
        public void encodeRows(float[] x, int xo, int n, int rows, float[] importance, MemorySegment dst, long dstOffset) {
            for (int r = 0; r < rows; r++) encodeRow(x, xo + r * n, n, importance, dst, dstOffset + r * rowBytes(n));
        }
    }

    /** Q5_K with the vector sub-block fits (the decoder is the scalar one). */
    static final class FastQ5_K extends Q5_KCodec {
        @Override
        public void encodeRow(float[] x, int xo, int n, float[] importance, MemorySegment dst, long dstOffset) {
            if (!VectorKQuants.encodeQ45_K(true, x, xo, n, importance, dst, dstOffset)) super.encodeRow(x, xo, n, importance, dst, dstOffset);
        }

        /** Row by row (the kernel has its lanes within a row): not the scalar codec's run of rows. */
        @Override
        public void encodeRows(float[] x, int xo, int n, int rows, float[] importance, MemorySegment dst, long dstOffset) {
            for (int r = 0; r < rows; r++) encodeRow(x, xo + r * n, n, importance, dst, dstOffset + r * rowBytes(n));
        }
    }

    /** Q6_K with the vector sub-block fits (the decoder is the scalar one). */
    static final class FastQ6_K extends Q6_KCodec {
        @Override
        public void encodeRow(float[] x, int xo, int n, float[] importance, MemorySegment dst, long dstOffset) {
            if (!VectorKQuants.encodeQ6_K(x, xo, n, importance, dst, dstOffset)) super.encodeRow(x, xo, n, importance, dst, dstOffset);
        }

        /** Row by row (the kernel has its lanes within a row): not the scalar codec's run of rows. */
        @Override
        public void encodeRows(float[] x, int xo, int n, int rows, float[] importance, MemorySegment dst, long dstOffset) {
            for (int r = 0; r < rows; r++) encodeRow(x, xo + r * n, n, importance, dst, dstOffset + r * rowBytes(n));
        }
    }

    static final class FastIQ4_NL extends IQ4_NLCodec {
        @Override
        public void decode(MemorySegment src, long srcOffset, float[] dst, int dstOffset, int n) {
            for (int b = 0; b < n / QK; b++) {
                long base = srcOffset + (long) b * BLOCK_BYTES;
                float d = Float16.toFloat(src.get(LittleEndian.SHORT, base));
                decodeNibbles(src, base + 2, d, dst, dstOffset + b * QK);
            }
        }

        @Override
        public void encodeRow(float[] x, int xo, int n, float[] importance, MemorySegment dst, long dstOffset) {
            if (!VectorIq4.encodeRow(QK, x, xo, n, importance, dst, dstOffset)) super.encodeRow(x, xo, n, importance, dst, dstOffset);
        }
    }

    static final class FastIQ4_XS extends IQ4_XSCodec {
        @Override
        public void decode(MemorySegment src, long srcOffset, float[] dst, int dstOffset, int n) {
            for (int i = 0; i < n / QK_K; i++) {
                long base = srcOffset + (long) i * BLOCK_BYTES;
                float d = Float16.toFloat(src.get(LittleEndian.SHORT, base));
                int scalesH = src.get(LittleEndian.SHORT, base + 2) & 0xFFFF;
                for (int ib = 0; ib < QK_K / 32; ++ib) {
                    int ls = (((src.get(LittleEndian.BYTE, base + 4 + ib / 2) & 0xFF) >> (4 * (ib % 2))) & 0xF)
                            | (((scalesH >> (2 * ib)) & 3) << 4);
                    decodeNibbles(src, base + 8 + 16 * ib, d * (ls - 32), dst, dstOffset + i * QK_K + 32 * ib);
                }
            }
        }

        @Override
        public void encodeRow(float[] x, int xo, int n, float[] importance, MemorySegment dst, long dstOffset) {
            if (!VectorIq4.encodeRow(QK_K, x, xo, n, importance, dst, dstOffset)) super.encodeRow(x, xo, n, importance, dst, dstOffset);
        }
    }

    /** 32 elements from 16 bytes of nibbles: element j low, j+16 high; value = scale * kvalues_iq4nl[q]. */
    private static void decodeNibbles(MemorySegment src, long at, float scale, float[] dst, int o) {
        for (int j = 0; j < 16; j += V) {
            IntVector q = bytes(src, at + j);
            FloatVector.broadcast(F, scale).mul(toFloat(level(q.and(0xF)))).intoArray(dst, o + j);
            FloatVector.broadcast(F, scale).mul(toFloat(level(q.lanewise(VectorOperators.LSHR, 4)))).intoArray(dst, o + 16 + j);
        }
    }
}
