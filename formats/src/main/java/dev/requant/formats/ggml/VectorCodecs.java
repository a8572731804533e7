package dev.requant.formats.ggml;

import dev.requant.formats.io.LittleEndian;
import java.lang.foreign.MemorySegment;
import java.nio.ByteOrder;
import java.util.Map;
import jdk.incubator.vector.ByteVector;
import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.IntVector;
import jdk.incubator.vector.ShortVector;
import jdk.incubator.vector.VectorMask;
import jdk.incubator.vector.VectorOperators;
import jdk.incubator.vector.VectorSpecies;

/**
 * Vector API versions of the hot codecs: decode of BF16, Q8_0 and Q4_0, and the reference (no importance) encoders
 * of Q8_0 and Q4_0. They work on 8 float lanes (256-bit vectors, 4 per 32-element block). Every output is
 * bit-identical to the scalar reference: a block holding NaN, Inf, or a scale whose inverse overflows goes through
 * the scalar code, because C's sequential max and float-to-int conversions treat those differently from vector
 * lanes. Only loaded when {@link VectorSupport} says the module is there.
 */
final class VectorCodecs {
    private VectorCodecs() {}

    private static final VectorSpecies<Float> F = FloatVector.SPECIES_256;
    private static final VectorSpecies<Integer> I = IntVector.SPECIES_256;
    private static final VectorSpecies<Byte> B = ByteVector.SPECIES_64;
    private static final VectorSpecies<Short> S = ShortVector.SPECIES_128;
    private static final ByteOrder LE = ByteOrder.LITTLE_ENDIAN;

    static boolean supported() {
        return FloatVector.SPECIES_PREFERRED.vectorBitSize() >= 256;
    }

    static void register(Map<GgmlType, BlockCodec> codecs) {
        codecs.put(GgmlType.BF16, new FastBF16());
        codecs.put(GgmlType.Q8_0, new FastQ8_0());
        codecs.put(GgmlType.Q4_0, new FastQ4_0());
    }

    /** BF16 -> float: sign-extend to int, shift into the high half. */
    static void bf16ToFloat(MemorySegment src, long srcOffset, float[] dst, int dstOffset, int n) {
        int i = 0;
        for (; i + 8 <= n; i += 8) {
            ShortVector s = ShortVector.fromMemorySegment(S, src, srcOffset + 2L * i, LE);
            IntVector v = (IntVector) s.convertShape(VectorOperators.S2I, I, 0);
            v.lanewise(VectorOperators.LSHL, 16).reinterpretAsFloats().intoArray(dst, dstOffset + i);
        }
        for (; i < n; i++) dst[dstOffset + i] = BFloat16.toFloat(src.get(LittleEndian.SHORT, srcOffset + 2L * i));
    }

    static final class FastBF16 extends FloatCodecs.BF16 {
        @Override
        public void decode(MemorySegment src, long srcOffset, float[] dst, int dstOffset, int n) {
            bf16ToFloat(src, srcOffset, dst, dstOffset, n);
        }
    }

    static final class FastQ8_0 extends Q8_0Codec {
        @Override
        public void decode(MemorySegment src, long srcOffset, float[] dst, int dstOffset, int n) {
            for (int b = 0; b < n / QK; b++) {
                long base = srcOffset + (long) b * BLOCK_BYTES;
                float d = Float16.toFloat(src.get(LittleEndian.SHORT, base));
                int o = dstOffset + b * QK;
                for (int k = 0; k < QK; k += 8) {
                    ByteVector q = ByteVector.fromMemorySegment(B, src, base + 2 + k, LE);
                    FloatVector f = (FloatVector) q.convertShape(VectorOperators.B2F, F, 0);
                    f.mul(d).intoArray(dst, o + k);
                }
            }
        }

        @Override
        public void encodeRow(float[] x, int srcOffset, int n, float[] importance, MemorySegment dst, long dstOffset) {
            for (int b = 0; b < n / QK; b++) {
                int o = srcOffset + b * QK;
                long base = dstOffset + (long) b * BLOCK_BYTES;
                FloatVector v0 = FloatVector.fromArray(F, x, o);
                FloatVector v1 = FloatVector.fromArray(F, x, o + 8);
                FloatVector v2 = FloatVector.fromArray(F, x, o + 16);
                FloatVector v3 = FloatVector.fromArray(F, x, o + 24);
                FloatVector m = v0.abs().max(v1.abs()).max(v2.abs().max(v3.abs()));
                float amax = m.reduceLanes(VectorOperators.MAX); // NaN-free blocks only (checked below)
                float d = amax / ((1 << 7) - 1);
                float id = d != 0f ? 1.0f / d : 0.0f;
                if (!(amax < Float.POSITIVE_INFINITY) || id == Float.POSITIVE_INFINITY || hasNaN(v0, v1, v2, v3)) {
                    Q8_0Codec.encodeBlock(x, o, dst, base);
                    continue;
                }
                dst.set(LittleEndian.SHORT, base, Float16.fromFloat(d));
                storeRounded(v0.mul(id), dst, base + 2);
                storeRounded(v1.mul(id), dst, base + 10);
                storeRounded(v2.mul(id), dst, base + 18);
                storeRounded(v3.mul(id), dst, base + 26);
            }
        }

        /** roundf (half away from zero) of finite lanes below 2^31, narrowed to int8. */
        private static void storeRounded(FloatVector q, MemorySegment dst, long at) {
            FloatVector a = q.abs();
            IntVector t = (IntVector) a.convert(VectorOperators.F2I, 0);
            FloatVector frac = a.sub((FloatVector) t.convert(VectorOperators.I2F, 0)); // exact
            IntVector r = t.add(1, frac.compare(VectorOperators.GE, 0.5f).cast(I));
            r = r.lanewise(VectorOperators.NEG, q.compare(VectorOperators.LT, 0f).cast(I));
            ((ByteVector) r.convertShape(VectorOperators.I2B, B, 0)).intoMemorySegment(dst, at, LE);
        }
    }

    static final class FastQ4_0 extends Q4_0Codec {
        @Override
        public void decode(MemorySegment src, long srcOffset, float[] dst, int dstOffset, int n) {
            for (int b = 0; b < n / QK; b++) {
                long base = srcOffset + (long) b * BLOCK_BYTES;
                float d = Float16.toFloat(src.get(LittleEndian.SHORT, base));
                int o = dstOffset + b * QK;
                for (int k = 0; k < QK / 2; k += 8) {
                    ByteVector q = ByteVector.fromMemorySegment(B, src, base + 2 + k, LE);
                    IntVector v = ((IntVector) q.convertShape(VectorOperators.B2I, I, 0)).and(0xFF);
                    ((FloatVector) v.and(0x0F).sub(8).convert(VectorOperators.I2F, 0)).mul(d).intoArray(dst, o + k);
                    ((FloatVector) v.lanewise(VectorOperators.LSHR, 4).sub(8).convert(VectorOperators.I2F, 0)).mul(d)
                            .intoArray(dst, o + k + QK / 2);
                }
            }
        }

        @Override
        public void encodeRow(float[] x, int srcOffset, int n, float[] importance, MemorySegment dst, long dstOffset) {
            if (importance != null) {
                super.encodeRow(x, srcOffset, n, importance, dst, dstOffset);
                return;
            }
            for (int b = 0; b < n / QK; b++) {
                int o = srcOffset + b * QK;
                long base = dstOffset + (long) b * BLOCK_BYTES;
                FloatVector v0 = FloatVector.fromArray(F, x, o);
                FloatVector v1 = FloatVector.fromArray(F, x, o + 8);
                FloatVector v2 = FloatVector.fromArray(F, x, o + 16);
                FloatVector v3 = FloatVector.fromArray(F, x, o + 24);
                FloatVector a0 = v0.abs(), a1 = v1.abs(), a2 = v2.abs(), a3 = v3.abs();
                float amax = a0.max(a1).max(a2.max(a3)).reduceLanes(VectorOperators.MAX);
                if (!(amax < Float.POSITIVE_INFINITY) || hasNaN(v0, v1, v2, v3)) {
                    Q4_0Codec.encodeBlockRef(x, o, dst, base);
                    continue;
                }
                // the signed value of the first element with the largest magnitude (ggml: strict '<', first wins)
                float max = 0f;
                if (amax > 0f) {
                    VectorMask<Float> m;
                    if ((m = a0.eq(amax)).anyTrue()) max = v0.lane(m.firstTrue());
                    else if ((m = a1.eq(amax)).anyTrue()) max = v1.lane(m.firstTrue());
                    else if ((m = a2.eq(amax)).anyTrue()) max = v2.lane(m.firstTrue());
                    else max = v3.lane(a3.eq(amax).firstTrue());
                }
                float d = max / -8;
                float id = d != 0f ? 1.0f / d : 0.0f;
                if (Float.isInfinite(id)) {
                    Q4_0Codec.encodeBlockRef(x, o, dst, base);
                    continue;
                }
                dst.set(LittleEndian.SHORT, base, Float16.fromFloat(d));
                // x*id + 8.5 lies in [0.5, 16.5], where Java's truncation equals the C (int8_t) conversion
                IntVector q0 = nibble(v0, id), q1 = nibble(v1, id), q2 = nibble(v2, id), q3 = nibble(v3, id);
                ((ByteVector) q0.or(q2.lanewise(VectorOperators.LSHL, 4)).convertShape(VectorOperators.I2B, B, 0))
                        .intoMemorySegment(dst, base + 2, LE);
                ((ByteVector) q1.or(q3.lanewise(VectorOperators.LSHL, 4)).convertShape(VectorOperators.I2B, B, 0))
                        .intoMemorySegment(dst, base + 10, LE);
            }
        }

        private static IntVector nibble(FloatVector v, float id) {
            return ((IntVector) v.mul(id).add(8.5f).convert(VectorOperators.F2I, 0)).min(15);
        }
    }

    private static boolean hasNaN(FloatVector v0, FloatVector v1, FloatVector v2, FloatVector v3) {
        return v0.compare(VectorOperators.NE, v0).or(v1.compare(VectorOperators.NE, v1))
                .or(v2.compare(VectorOperators.NE, v2)).or(v3.compare(VectorOperators.NE, v3)).anyTrue();
    }
}
