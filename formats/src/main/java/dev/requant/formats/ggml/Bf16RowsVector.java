package dev.requant.formats.ggml;

import java.lang.foreign.MemorySegment;
import java.nio.ByteOrder;
import jdk.incubator.vector.IntVector;
import jdk.incubator.vector.ShortVector;
import jdk.incubator.vector.VectorOperators;
import jdk.incubator.vector.VectorShape;
import jdk.incubator.vector.VectorSpecies;

/** {@link Bf16Rows}' vector kernel; loaded only where the Vector API is present (see {@link Bf16Rows#warmUp}). */
final class Bf16RowsVector {
    private Bf16RowsVector() {}

    private static final VectorSpecies<Integer> I = IntVector.SPECIES_PREFERRED;
    /** Shorts, one per int lane. */
    private static final VectorSpecies<Short> S = VectorSpecies.of(short.class, VectorShape.forBitSize(Math.max(64, I.length() * 16)));

    /** Whether the vectors are wide enough to pay (256 bits or more). */
    static boolean supported() { return I.length() >= 8; }

    /** A vector of shorts at a time, sign-extended to ints and shifted into the high half; the exponent test as FiniteCheck's. */
    static boolean toFloatFinite(MemorySegment src, long srcOffset, float[] dst, int dstOffset, int n) {
        IntVector acc = IntVector.zero(I);
        int i = 0;
        for (int end = n - I.length(); i <= end; i += I.length()) {
            IntVector b = ((IntVector) ShortVector.fromMemorySegment(S, src, srcOffset + 2L * i, ByteOrder.LITTLE_ENDIAN)
                    .convertShape(VectorOperators.S2I, I, 0)).lanewise(VectorOperators.LSHL, 16);
            // an exponent field of all ones (NaN, Inf) plus one carries into bit 31; any other exponent does not
            acc = acc.or(b.and(0x7f800000).add(0x00800000));
            b.reinterpretAsFloats().intoArray(dst, dstOffset + i);
        }
        boolean finite = acc.reduceLanes(VectorOperators.OR) >= 0;
        if (i < n) finite &= Bf16Rows.toFloatFiniteScalar(src, srcOffset + 2L * i, dst, dstOffset + i, n - i);
        return finite;
    }

}
