package dev.requant.formats.ggml;

import dev.requant.formats.io.LittleEndian;
import java.lang.foreign.MemorySegment;
import java.nio.ByteOrder;
import java.util.Map;
import jdk.incubator.vector.ByteVector;
import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.IntVector;
import jdk.incubator.vector.VectorMask;
import jdk.incubator.vector.VectorOperators;
import jdk.incubator.vector.VectorSpecies;

/**
 * Vector API versions of the hot codecs: decode of BF16, Q8_0 and Q4_0, and the reference (no importance) encoders
 * of Q8_0 and Q4_0. They run on 16 float lanes (512-bit vectors, 2 per 32-element block) where the CPU has them and
 * on 8 lanes (256-bit, 4 per block) otherwise. Every output is bit-identical to the scalar reference: a block holding
 * NaN or Inf, or a scale whose inverse overflows goes through the scalar code, because C's sequential scans and float-to-int conversions treat those
 * differently from vector lanes. Only loaded when {@link VectorSupport} says the module is there.
 */
final class VectorCodecs {
    private VectorCodecs() {}

    private static final ByteOrder LE = ByteOrder.LITTLE_ENDIAN;

    // The species must be compile-time constants for C2 to turn Vector API calls into instructions (a species held in
    // a field falls back to boxed Java code), hence two copies of each kernel: W (16 lanes) and N (8 lanes).
    private static final VectorSpecies<Float> FW = FloatVector.SPECIES_512, FN = FloatVector.SPECIES_256;
    private static final VectorSpecies<Integer> IW = IntVector.SPECIES_512, IN = IntVector.SPECIES_256;
    private static final VectorSpecies<Byte> BW = ByteVector.SPECIES_128, BN = ByteVector.SPECIES_64;

    /** True where the CPU has 512-bit vectors: the 16-lane kernels are used. */
    static final boolean WIDE = FloatVector.SPECIES_PREFERRED.length() >= 16;

    static boolean supported() {
        return FloatVector.SPECIES_PREFERRED.vectorBitSize() >= 256;
    }

    static void register(Map<GgmlType, BlockCodec> codecs) {
        codecs.put(GgmlType.Q8_0, new FastQ8_0(WIDE));
        codecs.put(GgmlType.Q4_0, new FastQ4_0(WIDE));
        VectorLowBitCodecs.register(codecs);
        VectorIqCodecs.register(codecs);
    }

    private static final java.util.concurrent.atomic.AtomicBoolean WARM_Q4_0 = new java.util.concurrent.atomic.AtomicBoolean(),
            WARM_Q8_0 = new java.util.concurrent.atomic.AtomicBoolean();

    /**
     * Runs the encoder of {@code target} (Q4_0 or Q8_0; any other type: nothing) a few thousand times on one block,
     * so that C2 compiles it now: until then the Vector API runs interpreted at hundreds of ns per element and the
     * first megabytes of every encoder thread crawl. Each kernel is warmed once per process, by whichever thread asks
     * first; the others go on without waiting. (The BF16 widening that the encoders read through is a plain loop,
     * Bf16Rows, and needs no warm-up.)
     */
    static void warmUp(GgmlType target) {
        boolean q4 = target == GgmlType.Q4_0 && WARM_Q4_0.compareAndSet(false, true);
        boolean q8 = target == GgmlType.Q8_0 && WARM_Q8_0.compareAndSet(false, true);
        if (!q4 && !q8) return;
        float[] x = new float[64];
        for (int i = 0; i < x.length; i++) x[i] = (float) Math.sin(i * 0.7) * (i % 5 + 1);
        MemorySegment out = MemorySegment.ofBuffer(java.nio.ByteBuffer.allocateDirect(256));
        BlockCodec encoder = BlockCodec.of(target); // the vector codec, as encoders will call it
        for (int i = 0; i < 12_000; i++) encoder.encodeRow(x, 0, 64, null, out, 0);
    }

    static final class FastQ8_0 extends Q8_0Codec {
        final boolean wide;

        FastQ8_0(boolean wide) { this.wide = wide; }

        @Override
        public void decode(MemorySegment src, long srcOffset, float[] dst, int dstOffset, int n) {
            if (wide) decodeQ8_0W(src, srcOffset, dst, dstOffset, n);
            else decodeQ8_0N(src, srcOffset, dst, dstOffset, n);
        }

        @Override
        public void encodeRow(float[] x, int srcOffset, int n, float[] importance, MemorySegment dst, long dstOffset) {
            if (wide) encodeQ8_0W(x, srcOffset, n, dst, dstOffset);
            else encodeQ8_0N(x, srcOffset, n, dst, dstOffset);
        }
    }

    static final class FastQ4_0 extends Q4_0Codec {
        final boolean wide;

        FastQ4_0(boolean wide) { this.wide = wide; }

        @Override
        public void decode(MemorySegment src, long srcOffset, float[] dst, int dstOffset, int n) {
            if (wide) decodeQ4_0W(src, srcOffset, dst, dstOffset, n);
            else decodeQ4_0N(src, srcOffset, dst, dstOffset, n);
        }

        @Override
        public void encodeRow(float[] x, int srcOffset, int n, float[] importance, MemorySegment dst, long dstOffset) {
            if (importance != null) {
                if (VectorQxQuants.supported()) VectorQxQuants.encodeRow(8, x, srcOffset, n, importance, dst, dstOffset);
                else super.encodeRow(x, srcOffset, n, importance, dst, dstOffset);
            } else if (wide) encodeQ4_0W(x, srcOffset, n, dst, dstOffset);
            else encodeQ4_0N(x, srcOffset, n, dst, dstOffset);
        }
    }

    // ---- 16 lanes ----

    static void decodeQ8_0W(MemorySegment src, long srcOffset, float[] dst, int dstOffset, int n) {
        for (int b = 0; b < n / 32; b++) {
            long base = srcOffset + (long) b * Q8_0Codec.BLOCK_BYTES;
            float d = Float16.toFloat(src.get(LittleEndian.SHORT, base));
            int o = dstOffset + b * 32;
            for (int k = 0; k < 32; k += 16) {
                ByteVector q = ByteVector.fromMemorySegment(BW, src, base + 2 + k, LE);
                ((FloatVector) q.convertShape(VectorOperators.B2F, FW, 0)).mul(d).intoArray(dst, o + k);
            }
        }
    }

    static void encodeQ8_0W(float[] x, int srcOffset, int n, MemorySegment dst, long dstOffset) {
        for (int b = 0; b < n / 32; b++) {
            int o = srcOffset + b * 32;
            long base = dstOffset + (long) b * Q8_0Codec.BLOCK_BYTES;
            int amaxBits = absBitsMaxW(x, o);
            float d = Float.intBitsToFloat(amaxBits) / ((1 << 7) - 1);
            float id = d != 0f ? 1.0f / d : 0.0f;
            if (amaxBits >= 0x7F800000 || id == Float.POSITIVE_INFINITY) { // Inf or NaN in the block, or 1/d overflows
                Q8_0Codec.encodeBlock(x, o, dst, base);
                continue;
            }
            dst.set(LittleEndian.SHORT, base, Float16.fromFloat(d));
            for (int k = 0; k < 32; k += 16) {
                // roundf (half away from zero) of finite lanes below 2^31, narrowed to int8
                FloatVector q = FloatVector.fromArray(FW, x, o + k).mul(id);
                FloatVector a = q.abs();
                IntVector t = (IntVector) a.convert(VectorOperators.F2I, 0);
                FloatVector frac = a.sub((FloatVector) t.convert(VectorOperators.I2F, 0)); // exact
                IntVector r = t.add(1, frac.compare(VectorOperators.GE, 0.5f).cast(IW));
                r = r.lanewise(VectorOperators.NEG, q.compare(VectorOperators.LT, 0f).cast(IW));
                ((ByteVector) r.convertShape(VectorOperators.I2B, BW, 0)).intoMemorySegment(dst, base + 2 + k, LE);
            }
        }
    }

    static void decodeQ4_0W(MemorySegment src, long srcOffset, float[] dst, int dstOffset, int n) {
        for (int b = 0; b < n / 32; b++) {
            long base = srcOffset + (long) b * Q4_0Codec.BLOCK_BYTES;
            float d = Float16.toFloat(src.get(LittleEndian.SHORT, base));
            int o = dstOffset + b * 32;
            for (int k = 0; k < 16; k += 16) {
                ByteVector q = ByteVector.fromMemorySegment(BW, src, base + 2 + k, LE);
                IntVector v = ((IntVector) q.convertShape(VectorOperators.B2I, IW, 0)).and(0xFF);
                ((FloatVector) v.and(0x0F).sub(8).convert(VectorOperators.I2F, 0)).mul(d).intoArray(dst, o + k);
                ((FloatVector) v.lanewise(VectorOperators.LSHR, 4).sub(8).convert(VectorOperators.I2F, 0)).mul(d)
                        .intoArray(dst, o + k + 16);
            }
        }
    }

    static void encodeQ4_0W(float[] x, int srcOffset, int n, MemorySegment dst, long dstOffset) {
        for (int b = 0; b < n / 32; b++) {
            int o = srcOffset + b * 32;
            long base = dstOffset + (long) b * Q4_0Codec.BLOCK_BYTES;
            int amaxBits = absBitsMaxW(x, o);
            if (amaxBits >= 0x7F800000) { // Inf or NaN in the block
                Q4_0Codec.encodeBlockRef(x, o, dst, base);
                continue;
            }
            // the signed value of the first element with the largest magnitude (ggml: strict '<', first wins)
            float max = amaxBits == 0 ? 0f : x[o + firstWithAbsBitsW(x, o, amaxBits)];
            float d = max / -8;
            float id = d != 0f ? 1.0f / d : 0.0f;
            if (Float.isInfinite(id)) { // a tiny subnormal max: 1/d overflows
                Q4_0Codec.encodeBlockRef(x, o, dst, base);
                continue;
            }
            dst.set(LittleEndian.SHORT, base, Float16.fromFloat(d));
            // element j (low nibble) pairs with j+16 (high nibble); x*id + 8.5 lies in [0.5, 16.5], where Java's
            // truncation equals C's (int8_t) conversion
            for (int k = 0; k < 16; k += 16) {
                IntVector lo = ((IntVector) FloatVector.fromArray(FW, x, o + k).mul(id).add(8.5f)
                        .convert(VectorOperators.F2I, 0)).min(15);
                IntVector hi = ((IntVector) FloatVector.fromArray(FW, x, o + 16 + k).mul(id).add(8.5f)
                        .convert(VectorOperators.F2I, 0)).min(15);
                ((ByteVector) lo.or(hi.lanewise(VectorOperators.LSHL, 4)).convertShape(VectorOperators.I2B, BW, 0))
                        .intoMemorySegment(dst, base + 2 + k, LE);
            }
        }
    }

    /**
     * The largest |x| of the 32 floats at x[o] as float bits: integer max of the bits without sign, which orders every
     * non-NaN float correctly; a result of 0x7F800000 or more means the block holds Inf or NaN.
     */
    private static int absBitsMaxW(float[] x, int o) {
        IntVector m = FloatVector.fromArray(FW, x, o).reinterpretAsInts().and(0x7FFFFFFF);
        for (int k = 16; k < 32; k += 16) m = m.max(FloatVector.fromArray(FW, x, o + k).reinterpretAsInts().and(0x7FFFFFFF));
        return m.reduceLanes(VectorOperators.MAX);
    }

    /** The index of the first of the 32 floats at x[o] whose magnitude has exactly these bits (one must). */
    private static int firstWithAbsBitsW(float[] x, int o, int absBits) {
        for (int k = 0; k < 32; k += 16) {
            VectorMask<Integer> m = FloatVector.fromArray(FW, x, o + k).reinterpretAsInts().and(0x7FFFFFFF).eq(absBits);
            if (m.anyTrue()) return k + m.firstTrue();
        }
        throw new AssertionError("no element has the maximum magnitude");
    }

    // ---- 8 lanes ----

    static void decodeQ8_0N(MemorySegment src, long srcOffset, float[] dst, int dstOffset, int n) {
        for (int b = 0; b < n / 32; b++) {
            long base = srcOffset + (long) b * Q8_0Codec.BLOCK_BYTES;
            float d = Float16.toFloat(src.get(LittleEndian.SHORT, base));
            int o = dstOffset + b * 32;
            for (int k = 0; k < 32; k += 8) {
                ByteVector q = ByteVector.fromMemorySegment(BN, src, base + 2 + k, LE);
                ((FloatVector) q.convertShape(VectorOperators.B2F, FN, 0)).mul(d).intoArray(dst, o + k);
            }
        }
    }

    static void encodeQ8_0N(float[] x, int srcOffset, int n, MemorySegment dst, long dstOffset) {
        for (int b = 0; b < n / 32; b++) {
            int o = srcOffset + b * 32;
            long base = dstOffset + (long) b * Q8_0Codec.BLOCK_BYTES;
            int amaxBits = absBitsMaxN(x, o);
            float d = Float.intBitsToFloat(amaxBits) / ((1 << 7) - 1);
            float id = d != 0f ? 1.0f / d : 0.0f;
            if (amaxBits >= 0x7F800000 || id == Float.POSITIVE_INFINITY) { // Inf or NaN in the block, or 1/d overflows
                Q8_0Codec.encodeBlock(x, o, dst, base);
                continue;
            }
            dst.set(LittleEndian.SHORT, base, Float16.fromFloat(d));
            for (int k = 0; k < 32; k += 8) {
                // roundf (half away from zero) of finite lanes below 2^31, narrowed to int8
                FloatVector q = FloatVector.fromArray(FN, x, o + k).mul(id);
                FloatVector a = q.abs();
                IntVector t = (IntVector) a.convert(VectorOperators.F2I, 0);
                FloatVector frac = a.sub((FloatVector) t.convert(VectorOperators.I2F, 0)); // exact
                IntVector r = t.add(1, frac.compare(VectorOperators.GE, 0.5f).cast(IN));
                r = r.lanewise(VectorOperators.NEG, q.compare(VectorOperators.LT, 0f).cast(IN));
                ((ByteVector) r.convertShape(VectorOperators.I2B, BN, 0)).intoMemorySegment(dst, base + 2 + k, LE);
            }
        }
    }

    static void decodeQ4_0N(MemorySegment src, long srcOffset, float[] dst, int dstOffset, int n) {
        for (int b = 0; b < n / 32; b++) {
            long base = srcOffset + (long) b * Q4_0Codec.BLOCK_BYTES;
            float d = Float16.toFloat(src.get(LittleEndian.SHORT, base));
            int o = dstOffset + b * 32;
            for (int k = 0; k < 16; k += 8) {
                ByteVector q = ByteVector.fromMemorySegment(BN, src, base + 2 + k, LE);
                IntVector v = ((IntVector) q.convertShape(VectorOperators.B2I, IN, 0)).and(0xFF);
                ((FloatVector) v.and(0x0F).sub(8).convert(VectorOperators.I2F, 0)).mul(d).intoArray(dst, o + k);
                ((FloatVector) v.lanewise(VectorOperators.LSHR, 4).sub(8).convert(VectorOperators.I2F, 0)).mul(d)
                        .intoArray(dst, o + k + 16);
            }
        }
    }

    static void encodeQ4_0N(float[] x, int srcOffset, int n, MemorySegment dst, long dstOffset) {
        for (int b = 0; b < n / 32; b++) {
            int o = srcOffset + b * 32;
            long base = dstOffset + (long) b * Q4_0Codec.BLOCK_BYTES;
            int amaxBits = absBitsMaxN(x, o);
            if (amaxBits >= 0x7F800000) { // Inf or NaN in the block
                Q4_0Codec.encodeBlockRef(x, o, dst, base);
                continue;
            }
            // the signed value of the first element with the largest magnitude (ggml: strict '<', first wins)
            float max = amaxBits == 0 ? 0f : x[o + firstWithAbsBitsN(x, o, amaxBits)];
            float d = max / -8;
            float id = d != 0f ? 1.0f / d : 0.0f;
            if (Float.isInfinite(id)) { // a tiny subnormal max: 1/d overflows
                Q4_0Codec.encodeBlockRef(x, o, dst, base);
                continue;
            }
            dst.set(LittleEndian.SHORT, base, Float16.fromFloat(d));
            // element j (low nibble) pairs with j+16 (high nibble); x*id + 8.5 lies in [0.5, 16.5], where Java's
            // truncation equals C's (int8_t) conversion
            for (int k = 0; k < 16; k += 8) {
                IntVector lo = ((IntVector) FloatVector.fromArray(FN, x, o + k).mul(id).add(8.5f)
                        .convert(VectorOperators.F2I, 0)).min(15);
                IntVector hi = ((IntVector) FloatVector.fromArray(FN, x, o + 16 + k).mul(id).add(8.5f)
                        .convert(VectorOperators.F2I, 0)).min(15);
                ((ByteVector) lo.or(hi.lanewise(VectorOperators.LSHL, 4)).convertShape(VectorOperators.I2B, BN, 0))
                        .intoMemorySegment(dst, base + 2 + k, LE);
            }
        }
    }

    /**
     * The largest |x| of the 32 floats at x[o] as float bits: integer max of the bits without sign, which orders every
     * non-NaN float correctly; a result of 0x7F800000 or more means the block holds Inf or NaN.
     */
    private static int absBitsMaxN(float[] x, int o) {
        IntVector m = FloatVector.fromArray(FN, x, o).reinterpretAsInts().and(0x7FFFFFFF);
        for (int k = 8; k < 32; k += 8) m = m.max(FloatVector.fromArray(FN, x, o + k).reinterpretAsInts().and(0x7FFFFFFF));
        return m.reduceLanes(VectorOperators.MAX);
    }

    /** The index of the first of the 32 floats at x[o] whose magnitude has exactly these bits (one must). */
    private static int firstWithAbsBitsN(float[] x, int o, int absBits) {
        for (int k = 0; k < 32; k += 8) {
            VectorMask<Integer> m = FloatVector.fromArray(FN, x, o + k).reinterpretAsInts().and(0x7FFFFFFF).eq(absBits);
            if (m.anyTrue()) return k + m.firstTrue();
        }
        throw new AssertionError("no element has the maximum magnitude");
    }
}
