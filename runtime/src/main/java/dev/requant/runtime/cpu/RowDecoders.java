package dev.requant.runtime.cpu;

import dev.requant.formats.ggml.BlockCodec;
import dev.requant.formats.ggml.GgmlType;
import java.lang.foreign.MemorySegment;
import java.nio.ByteOrder;
import jdk.incubator.vector.ByteVector;
import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.IntVector;
import jdk.incubator.vector.ShortVector;
import jdk.incubator.vector.VectorOperators;
import jdk.incubator.vector.VectorShape;
import jdk.incubator.vector.VectorSpecies;

/**
 * Decoding a run of weights from their stored GGML type to floats, a few blocks at a time (never a whole tensor).
 * The reference for every type is {@link BlockCodec#reference}'s decode; the Vector API paths here (F32, F16, BF16,
 * Q8_0, Q4_0) give the same floats bit for bit, which the tests check on random data; other types (K-quants, MXFP4,
 * NVFP4, ...) use the formats module's codec.
 */
public final class RowDecoders {
    private RowDecoders() {}

    /** Decodes {@code n} elements (a multiple of the type's block size) starting at byte {@code offset}. */
    @FunctionalInterface
    public interface RowDecoder {
        void decode(MemorySegment src, long offset, float[] dst, int dstOffset, int n);
    }

    static final VectorSpecies<Float> F = FloatVector.SPECIES_PREFERRED;
    /** Bytes species with as many lanes as {@link #F}. */
    static final VectorSpecies<Byte> B = VectorSpecies.of(byte.class, VectorShape.forBitSize(F.length() * 8));
    static final VectorSpecies<Short> S = VectorSpecies.of(short.class, VectorShape.forBitSize(F.length() * 16));
    static final VectorSpecies<Byte> B128 = ByteVector.SPECIES_128;
    static final VectorSpecies<Integer> I = VectorSpecies.of(int.class, F.vectorShape());

    /** The codec's scalar decoder (the reference). */
    public static RowDecoder scalar(GgmlType type) {
        BlockCodec codec = BlockCodec.reference(type);
        return codec::decode;
    }

    /** The fastest decoder for the type: a Vector API path where there is one, else the codec's. */
    public static RowDecoder fast(GgmlType type) {
        return switch (type) {
            case F32 -> RowDecoders::decodeF32;
            case BF16 -> RowDecoders::decodeBf16;
            case F16 -> RowDecoders::decodeF16;
            case Q8_0 -> RowDecoders::decodeQ8_0;
            case Q4_0 -> F.length() <= 16 ? RowDecoders::decodeQ4_0 : scalar(type);
            default -> BlockCodec.of(type)::decode; // the formats module's fastest decoder for the other types
        };
    }

    static void decodeF32(MemorySegment src, long offset, float[] dst, int dstOffset, int n) {
        MemorySegment.copy(src, dev.requant.formats.io.LittleEndian.FLOAT, offset, dst, dstOffset, n);
    }

    static void decodeBf16(MemorySegment src, long offset, float[] dst, int dstOffset, int n) {
        int L = F.length();
        int i = 0;
        for (; i + L <= n; i += L) {
            ShortVector s = ShortVector.fromMemorySegment(S, src, offset + 2L * i, ByteOrder.LITTLE_ENDIAN);
            IntVector bits = (IntVector) s.convertShape(VectorOperators.S2I, I, 0);
            bits.lanewise(VectorOperators.LSHL, 16).reinterpretAsFloats().intoArray(dst, dstOffset + i);
        }
        for (; i < n; i++) {
            dst[dstOffset + i] = Float.intBitsToFloat((src.get(dev.requant.formats.io.LittleEndian.SHORT, offset + 2L * i) & 0xFFFF) << 16);
        }
    }

    static void decodeF16(MemorySegment src, long offset, float[] dst, int dstOffset, int n) {
        // Float.float16ToFloat is an intrinsic (vcvtph2ps); exact for every input incl. NaN payloads and subnormals
        for (int i = 0; i < n; i++) {
            dst[dstOffset + i] = Float.float16ToFloat(src.get(dev.requant.formats.io.LittleEndian.SHORT, offset + 2L * i));
        }
    }

    static void decodeQ8_0(MemorySegment src, long offset, float[] dst, int dstOffset, int n) {
        int L = F.length();
        for (int b = 0; b < n / 32; b++) {
            long base = offset + 34L * b;
            float d = Float.float16ToFloat(src.get(dev.requant.formats.io.LittleEndian.SHORT, base));
            int o = dstOffset + 32 * b;
            for (int j = 0; j < 32; j += L) {
                ByteVector q = ByteVector.fromMemorySegment(B, src, base + 2 + j, ByteOrder.LITTLE_ENDIAN);
                ((FloatVector) q.convertShape(VectorOperators.B2F, F, 0)).mul(d).intoArray(dst, o + j);
            }
        }
    }

    /** Requires at most 16 float lanes (one 16-byte load of nibbles covers all 32 elements). */
    static void decodeQ4_0(MemorySegment src, long offset, float[] dst, int dstOffset, int n) {
        int L = F.length();
        int parts = 16 / L;
        for (int b = 0; b < n / 32; b++) {
            long base = offset + 18L * b;
            float d = Float.float16ToFloat(src.get(dev.requant.formats.io.LittleEndian.SHORT, base));
            int o = dstOffset + 32 * b;
            ByteVector qs = ByteVector.fromMemorySegment(B128, src, base + 2, ByteOrder.LITTLE_ENDIAN);
            ByteVector lo = qs.and((byte) 0x0F).sub((byte) 8);
            ByteVector hi = qs.lanewise(VectorOperators.LSHR, 4).sub((byte) 8);
            for (int p = 0; p < parts; p++) {
                ((FloatVector) lo.convertShape(VectorOperators.B2F, F, p)).mul(d).intoArray(dst, o + p * L);
                ((FloatVector) hi.convertShape(VectorOperators.B2F, F, p)).mul(d).intoArray(dst, o + 16 + p * L);
            }
        }
    }
}
