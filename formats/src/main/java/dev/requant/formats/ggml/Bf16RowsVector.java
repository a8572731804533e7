package dev.requant.formats.ggml;

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

    /**
     * {@code n} BF16 values from {@code src[srcOffset..]} widened into {@code dst[dstOffset..]}; whether all are finite. A
     * vector of shorts at a time, sign-extended to ints and shifted into the high half; the exponent test as FiniteCheck's.
     */
    static boolean toFloatFinite(short[] src, int srcOffset, float[] dst, int dstOffset, int n) {
        IntVector acc = IntVector.zero(I);
        int i = 0;
        for (int end = n - I.length(); i <= end; i += I.length()) {
            IntVector b = ((IntVector) ShortVector.fromArray(S, src, srcOffset + i).convertShape(VectorOperators.S2I, I, 0))
                    .lanewise(VectorOperators.LSHL, 16);
            // an exponent field of all ones (NaN, Inf) plus one carries into bit 31; any other exponent does not
            acc = acc.or(b.and(0x7f800000).add(0x00800000));
            b.reinterpretAsFloats().intoArray(dst, dstOffset + i);
        }
        boolean finite = acc.reduceLanes(VectorOperators.OR) >= 0;
        if (i < n) {
            Bf16Rows.widen(src, srcOffset + i, dst, dstOffset + i, n - i);
            finite &= FiniteCheck.allFinite(dst, dstOffset + i, dstOffset + n);
        }
        return finite;
    }
}
