package dev.requant.converter.qat;

import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;

/**
 * {@link Q4_0LatticeVector}'s kernels in plain Java, element by element: the same float operations in each lane, so
 * the same answers bit for bit (maxima and minima, the only reductions, do not depend on order). The solver's fast
 * path where the Vector API is absent or not worth its start-up (see {@link Q4_0Lattice#KERNELS}); JIT-compiled in
 * milliseconds, where Vector API code runs as boxed Java until C2 has compiled it after thousands of calls.
 */
final class Q4_0LatticeLanes {
    private Q4_0LatticeLanes() {}

    private static final int QK = Q4_0Lattice.QK;
    /** 1.5 * 2^23: adding and subtracting it rounds half to even, exact for |t| < 2^22 (here |t| <= 8.5). */
    private static final float RINT_MAGIC = 12582912f;

    /** As {@link Q4_0LatticeVector#scan}. */
    static float scan(float[] src, int off, int[] counts) {
        // the largest magnitude by its bits: for finite values the order of floats; a NaN or infinity comes out as one
        // (not necessarily the same NaN as the vector max's, and the solver only asks whether it is finite)
        int m = 0;
        int zeros = 0, negZeros = 0;
        for (int i = 0; i < QK; i++) {
            int b = Float.floatToRawIntBits(src[off + i]);
            int a = b & 0x7FFFFFFF;
            m = Math.max(m, a);
            zeros += a == 0 ? 1 : 0;
            negZeros += b == 0x80000000 ? 1 : 0;
        }
        counts[0] = zeros;
        counts[1] = negZeros;
        return Float.intBitsToFloat(m);
    }

    /** As {@link Q4_0LatticeVector#firstAt}. */
    static int firstAt(float[] src, int off, float amax) {
        for (int i = 0; i < QK; i++) if (Math.abs(src[off + i]) == amax) return i;
        return -1;
    }

    /** As {@link Q4_0LatticeVector#ratios}. */
    static void ratios(float[] src, int off, float inv, float[] ratio) {
        for (int i = 0; i < QK; i++) ratio[i] = Math.abs(src[off + i]) * inv;
    }

    /** As {@link Q4_0LatticeVector#plausible}. */
    static boolean plausible(float[] ratio, int k) {
        float kf = k;
        for (int i = 0; i < QK; i++) {
            float t = ratio[i] * kf;
            if (Math.abs(t - ((t + RINT_MAGIC) - RINT_MAGIC)) > 0.0625f) return false;
        }
        return true;
    }

    /** As {@link Q4_0LatticeVector#verifyBf16}: 1, 0, or -1 when only zeros of the other sign differ. */
    static int verifyBf16(float[] x, int xo, float d, float inv, float[] codes) {
        boolean zeroDiffers = false;
        for (int i = 0; i < QK; i++) {
            float v = x[xo + i];
            // the rounded quotient is never -0 (x + 1.5*2^23 - 1.5*2^23 gives +0) nor NaN: a plain clamp is the vector max/min
            float r = ((v * inv) + RINT_MAGIC) - RINT_MAGIC;
            float q = r < -8f ? -8f : (r > 7f ? 7f : r);
            int u = Float.floatToRawIntBits(q * d);
            // ggml_compute_fp32_to_bf16 without the NaN branch (products of finite values are finite)
            int rounded = (u + 0x7FFF + ((u >>> 16) & 1)) & 0xFFFF0000;
            int vb = Float.floatToRawIntBits(v);
            if (rounded != vb) {
                if (((rounded | vb) & 0x7FFFFFFF) != 0) return 0;
                zeroDiffers = true;
            }
            codes[i] = q;
        }
        return zeroDiffers ? -1 : 1;
    }

    /** As {@link Q4_0LatticeVector#intersectBf16}. */
    static int intersectBf16(float[] x, int xo, int extreme, int k, boolean negative, double[] bounds) {
        float am = Math.abs(x[xo + extreme]);
        int mb = Float.floatToRawIntBits(am) >>> 16;
        int mhalf = (mb & 1) == 0 ? 0x8000 : 0x7FFF;
        float d0Lo = Float.intBitsToFloat((mb << 16) - mhalf) / k;
        float d0Hi = Float.intBitsToFloat((mb << 16) + mhalf) / k;
        float dMid = (d0Lo + d0Hi) * 0.5f;
        float margin = 0.5f - (float) k * (d0Hi - d0Lo) / dMid - 1e-3f;
        float inv = 1f / dMid;
        float lo = d0Lo, hi = d0Hi;
        boolean ambiguous = false;
        for (int i = 0; i < QK; i++) {
            float v = x[xo + i];
            float a = Math.abs(v);
            boolean zero = a == 0f;
            float t = a * inv;
            float kv = zero ? 1f : (t + RINT_MAGIC) - RINT_MAGIC;
            boolean negCode = negative ? v > 0f : v < 0f;
            float cap = negCode ? 8f : 7f;
            if (kv < 1f || kv > cap) return 0;
            boolean amb = Math.abs(t - kv) > margin && !zero;
            ambiguous |= amb;
            if (zero || amb) continue;
            int b = Float.floatToRawIntBits(a) >>> 16;
            int half = ((b & 1) ^ 1) + 0x7FFF;
            int top = b << 16;
            float eLo = Float.intBitsToFloat(top - half) / kv, eHi = Float.intBitsToFloat(top + half) / kv;
            lo = eLo > lo ? eLo : lo; // positive, finite: as the vector max and min
            hi = eHi < hi ? eHi : hi;
        }
        double dLo = lo * (1 - 1e-6);
        double dHi = hi * (1 + 1e-6);
        if (dLo > dHi) return 0;
        bounds[0] = dLo;
        bounds[1] = dHi;
        return ambiguous ? 2 : 1;
    }

    /** As {@link Q4_0LatticeVector#squaredErrors}. */
    static void squaredErrors(float[] x, int xo, float d, float[] w, int wo, double[] terms) {
        for (int i = 0; i < QK; i++) {
            float v = x[xo + i];
            float t = ((v / d) + RINT_MAGIC) - RINT_MAGIC;
            float q = Math.min(Math.max(t, -8f), 7f);
            double r = (double) v - (double) (q * d);
            terms[i] = w == null ? r * r : (double) w[wo + i] * r * r;
        }
    }

    /** As {@link Q4_0LatticeVector#packCodes}. */
    static void packCodes(float[] codes, MemorySegment dst, long off) {
        for (int j = 0; j < QK / 2; j++) {
            dst.set(ValueLayout.JAVA_BYTE, off + j, (byte) (int) (codes[QK / 2 + j] * 16f + codes[j] + 136f));
        }
    }
}
