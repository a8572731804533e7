package dev.requant.converter;

/**
 * SLEEF's float32 {@code expf} and {@code log1pf} with 1.0-ulp bounds ({@code xexpf}, {@code xlog1pf} of SLEEF's
 * src/libm/sleefsimdsp.c, FMA configuration), value for value as torch's CPU kernels get them from
 * {@code Vectorized<float>::exp()} / {@code ::log1p()} ({@code Sleef_expf16_u10} / {@code Sleef_log1pf16_u10} on
 * AVX-512, the {@code ...f8_u10} twins on AVX2).
 *
 * <p>Why not {@link Math#exp}: convert_hf_to_gguf.py applies {@code torch.nn.functional.softplus} to Gemma 4's audio
 * {@code per_dim_scale}, and for a byte-identical GGUF requant has to round exactly where SLEEF rounds; SLEEF is within
 * one ulp but not correctly rounded, so the correctly rounded {@code (float) Math.exp} differs in the last bit for
 * some inputs. Every {@code vmla} of SLEEF is a fused multiply-add here ({@link Math#fma}), as in the AVX2 and
 * AVX-512 helper configurations; the double-float steps are those of SLEEF's src/common/df.h for FMA targets. The
 * exponent extraction follows the AVX2 code (ilogb, then scaling by exponent-field arithmetic); AVX-512's
 * {@code getexp}/{@code getmant} form gives the same results: SLEEF 3.8's AVX2 and AVX-512 functions agree on every
 * float input, and this class agrees with both on every one (NaN payloads aside; checked once exhaustively, SleefFloatTest
 * keeps a sweep). The source of xexpf is unchanged from SLEEF 3.5.1 to 3.9, that of xlog1pf too for arguments up to
 * 1e38 (before 3.8 larger ones gave infinity instead of log(d)); torch's submodule went to 3.8 in April 2025 (pytorch#151955).
 */
final class SleefFloat {
    private SleefFloat() {}

    /** log(2) split so that {@code q * L2U} is exact for |q| below 2^12 (SLEEF's L2Uf, L2Lf). */
    private static final float L2U = 0.693145751953125f;
    private static final float L2L = 1.428606765330187045e-06f;
    private static final float R_LN2 = 1.442695040888963407359924681001892137426645954152985934135449406931f;
    /** log(2) as a double-float (hi, lo) for the exponent term of the logarithms. */
    private static final float LN2_HI = 0.69314718246459960938f;
    private static final float LN2_LO = -1.904654323148236017e-09f;
    /** Above this log1p(d) is log(d) (SLEEF's LOG1PF_BOUND, 1e38): the core's {@code 2 + m} would lose m. */
    private static final float LOG1P_BOUND = 0x1.2ced32p+126f;

    /** e^d, SLEEF's {@code xexpf} (max error 1.0 ulp): Cody-Waite reduction by ln 2, degree-7 polynomial. */
    static float exp(float d) {
        int q = (int) Math.rint(d * R_LN2);
        float s = Math.fma(q, -L2U, d);
        s = Math.fma(q, -L2L, s);

        float u = 0.000198527617612853646278381f;
        u = Math.fma(u, s, 0.00139304355252534151077271f);
        u = Math.fma(u, s, 0.00833336077630519866943359f);
        u = Math.fma(u, s, 0.0416664853692054748535156f);
        u = Math.fma(u, s, 0.166666671633720397949219f);
        u = Math.fma(u, s, 0.5f);
        u = 1.0f + Math.fma(s * s, u, s);

        u = ldexp2(u, q);
        if (d < -104f) u = 0f;
        if (100f < d) u = Float.POSITIVE_INFINITY;
        return u;
    }

    /** log(1 + d), SLEEF's {@code xlog1pf} (max error 1.0 ulp): m = (1 + d) / 2^e in [0.75, 1.5) formed from d itself. */
    static float log1p(float d) {
        if (Float.isNaN(d) || d < -1f) return Float.NaN;
        if (d == -1f) return Float.NEGATIVE_INFINITY;
        if (d == 0f) return d; // keeps -0.0 (SLEEF's explicit case; +0.0 comes out of the core as +0.0 too)
        if (d > LOG1P_BOUND) return logU1(d);

        float dp1 = d + 1f;
        // 1 + d >= 2^-24 here, never subnormal; the exponent of the rounded product as SLEEF's ilogb2k/getexp take it
        int e = Math.getExponent(dp1 * (1.0f / 0.75f));
        float t = ldexp3(1f, -e);
        float m = Math.fma(d, t, t - 1f);
        // s = ln2 * e as a double-float
        float sx = LN2_HI * e;
        float sy = Math.fma(LN2_LO, e, Math.fma(LN2_HI, e, -sx));

        // x = m / (2 + m) as a double-float (dfadd of 2 and m, then dfdiv)
        float dx = 2f + m;
        float dy = (2f - dx) + m;
        float[] x = div(m, 0f, dx, dy);
        return core(sx, sy, x[0], x[1]);
    }

    /** log(d), SLEEF's {@code xlogf_u1}, for log1p's arguments above 1e38 (positive, finite or infinite). */
    private static float logU1(float d) {
        if (d == Float.POSITIVE_INFINITY) return d;
        int e = Math.getExponent(d * (1.0f / 0.75f));
        float m = ldexp3(d, -e);
        float sx = LN2_HI * e;
        float sy = Math.fma(LN2_LO, e, Math.fma(LN2_HI, e, -sx));
        // (m - 1) / (1 + m), numerator and denominator as exact double-float sums (dfadd2)
        float[] n = add2(-1f, m);
        float[] den = add2(1f, m);
        float[] x = div(n[0], n[1], den[0], den[1]);
        return core(sx, sy, x[0], x[1]);
    }

    /** The shared tail of SLEEF's float logarithms: (sx, sy) + 2x + x^3 * P(x^2), summed in double-float. */
    private static float core(float sx, float sy, float xx, float xy) {
        float x2 = xx * xx;
        float t = 0.3027294874f;
        t = Math.fma(t, x2, 0.3996108174f);
        t = Math.fma(t, x2, 0.6666694880f);

        // dfadd_vf2_vf2_vf2(s, 2x): |s| >= |2x| is assumed, as SLEEF assumes it
        float yx = xx * 2f, yy = xy * 2f;
        float hi = sx + yx;
        float lo = (((sx - hi) + yx) + sy) + yy;
        // dfadd_vf2_vf2_vf(s, x^3 t)
        float v = (x2 * xx) * t;
        float hi2 = hi + v;
        float lo2 = ((hi - hi2) + v) + lo;
        return hi2 + lo2;
    }

    /** SLEEF's dfdiv for FMA targets: (nx + ny) / (dx + dy) as a double-float {hi, lo}. */
    private static float[] div(float nx, float ny, float dx, float dy) {
        float t = 1.0f / dx;
        float s = nx * t;
        float u = Math.fma(t, nx, -s);
        float v = Math.fma(-dy, t, Math.fma(-dx, t, 1f));
        return new float[] {s, Math.fma(s, v, Math.fma(ny, t, u))};
    }

    /** SLEEF's dfadd2 of two floats: the exact sum x + y as {hi, lo} (Knuth's two-sum). */
    private static float[] add2(float x, float y) {
        float s = x + y;
        float v = s - x;
        return new float[] {s, (x - (s - v)) + (y - v)};
    }

    /** 2^q as float bits, for q in the normal exponent range. */
    private static float pow2i(int q) {
        return Float.intBitsToFloat((q + 0x7f) << 23);
    }

    /** d * 2^e in two factors, so that exp's e up to about 150 neither overflows nor underflows early. */
    private static float ldexp2(float d, int e) {
        return d * pow2i(e >> 1) * pow2i(e - (e >> 1));
    }

    /** d * 2^q by adding q to the exponent field (d normal, result normal). */
    private static float ldexp3(float d, int q) {
        return Float.intBitsToFloat(Float.floatToRawIntBits(d) + (q << 23));
    }
}
