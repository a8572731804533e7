package dev.requant.converter.qat;

import dev.requant.formats.ggml.BFloat16;
import dev.requant.formats.ggml.Float16;

/**
 * The precision a checkpoint stored its weights in. A QAT weight is stored as round(q * d) in this precision, so the
 * set of exact products q*d that give back a stored value s is an interval: every real that rounds to s.
 */
public enum StoredPrecision {
    BF16, F16, F32;

    /** Rounds an exact float product to this precision (what the checkpoint writer did). */
    public float round(float x) {
        return switch (this) {
            case BF16 -> BFloat16.round(x);
            case F16 -> Float16.round(x);
            case F32 -> x;
        };
    }

    /**
     * The closed interval [lo, hi] of positive reals that round to the positive value {@code a} (round to nearest even).
     * For BF16 the bounds are computed on fp32 bit patterns: rounding keeps the upper 16 bits, so bf16 bits S collect
     * fp32 patterns S<<16 ± 0x8000, the ties included only when S is even.
     */
    void interval(float a, double[] out) {
        switch (this) {
            case BF16 -> {
                int s = Float.floatToRawIntBits(a) >>> 16;
                int half = (s & 1) == 0 ? 0x8000 : 0x7FFF;
                out[0] = Float.intBitsToFloat((s << 16) - half);
                out[1] = Float.intBitsToFloat((s << 16) + half);
            }
            case F16 -> {
                short h = Float16.fromFloat(a);
                double v = Float16.toFloat(h);
                double prev = Float16.toFloat((short) (h - 1));
                double next = Float16.toFloat((short) (h + 1));
                // Midpoints are exact in double; ties go to the even mantissa.
                double lo = (prev + v) / 2, hi = (v + next) / 2;
                boolean even = (h & 1) == 0;
                out[0] = even ? lo : Math.nextUp(lo);
                out[1] = even ? hi : Math.nextDown(hi);
            }
            case F32 -> {
                out[0] = a;
                out[1] = a;
            }
        }
    }

    /** Whether {@code v} is exactly representable in this precision. */
    public boolean represents(float v) {
        return round(v) == v || Float.isNaN(v);
    }
}
