package dev.requant.formats.ggml;

/**
 * log2f as glibc computes it, for the one place a quantizer depends on it (MXFP4's floorf(log2f(amax))).
 *
 * <p>glibc's log2f (2.28 and later) evaluates in double and rounds once to float; its error is far below a float ulp
 * except in rare near-ties. What matters for floor() is the result just below powers of two, where log2f rounds up
 * to the integer: e.g. log2f(8 - 2^-21) == 3.0f. Computing log2 in double and rounding once reproduces that, and a
 * test checks the exact threshold below every power of two against values taken from glibc.
 */
final class Log2f {
    private Log2f() {}

    private static final double INV_LN2 = 1.0 / Math.log(2.0);

    static float log2f(float x) {
        if (!(x > 0f) || Float.isInfinite(x)) {
            if (x == 0f) return Float.NEGATIVE_INFINITY;
            if (x == Float.POSITIVE_INFINITY) return x;
            return Float.NaN;
        }
        int bits = Float.floatToRawIntBits(x);
        int exp = (bits >>> 23) & 0xFF;
        int man = bits & 0x7FFFFF;
        if (exp == 0) { // subnormal: normalise
            int shift = Integer.numberOfLeadingZeros(man) - 8;
            man = (man << shift) & 0x7FFFFF;
            exp = 1 - shift;
        }
        int e = exp - 127;
        double m = 1.0 + man * 0x1p-23; // [1, 2)
        // Near m = 2 use log of m/2 (negative, small) so the sum keeps full precision close to the next integer.
        if (m > 1.5) {
            m *= 0.5;
            e += 1;
        }
        return (float) (e + Math.log(m) * INV_LN2);
    }
}
