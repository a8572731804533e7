package dev.requant.converter.quantize.search;

import dev.requant.formats.ggml.Float16;
import dev.requant.formats.ggml.GgmlType;
import dev.requant.formats.io.LittleEndian;
import java.lang.foreign.MemorySegment;
import java.util.Arrays;

/**
 * The exhaustive search for the one-scale types Q4_0, Q5_0 and Q8_0 (value = d * L, L in [lo, hi], d an fp16).
 *
 * <p>llama.cpp tries 19 inverse scales on a 0.1 grid (make_qx_quants) or just max/-8 (the reference), rounds the
 * codes with the float scale and then stores the scale rounded to fp16. Here, for both signs of d, every inverse scale
 * in a window of +-2.5 levels around the largest element is swept exactly: the codes only change where some
 * {@code x_j * s} crosses a half-integer, so sorting those crossings and updating {@code sum w x L} and
 * {@code sum w L^2} at each gives every distinct code vector with its least-squares scale. The best of each sign, and
 * llama.cpp's own scale, are then tried at their fp16 value and neighbouring fp16 values with the codes re-rounded for
 * the stored scale, and the error is measured on the values the decoder will produce.
 */
final class SymmetricScaleSearch extends SearchingCodec {
    /** fp16 neighbours tried on each side of a candidate scale. */
    static final int ULPS = 2;
    static final float WINDOW = 2.5f;

    private final int lo, hi;
    private final ThreadLocal<Scratch> scratch;

    SymmetricScaleSearch(GgmlType type) {
        super(type);
        switch (type) {
            case Q4_0 -> { lo = -8; hi = 7; }
            case Q5_0 -> { lo = -16; hi = 15; }
            case Q8_0 -> { lo = -127; hi = 127; } // -128 decodes, but ggml's x86 dot products assume |q| <= 127
            default -> throw new IllegalArgumentException(type.ggmlName());
        }
        int maxEvents = 32 * (int) (2 * WINDOW + 2);
        scratch = ThreadLocal.withInitial(() -> new Scratch(maxEvents));
    }

    private static final class Scratch {
        final long[] events;
        final int[] m = new int[32];
        final int[] best = new int[32];
        final int[] trial = new int[32];

        Scratch(int maxEvents) { events = new long[maxEvents]; }
    }

    @Override
    void improve(float[] x, int xo, float[] w, int wo, double llamaError, MemorySegment dst, long block) {
        Scratch s = scratch.get();
        float amax = 0;
        for (int j = 0; j < 32; j++) amax = Math.max(amax, Math.abs(x[xo + j]));
        if (!(amax > 0) || !Float.isFinite(amax)) return;
        double bestError = llamaError;
        short bestD = 0;
        boolean found = false;
        float llamaD = Float16.toFloat(dst.get(LittleEndian.SHORT, block));
        float[] starts = {llamaD, sweep(x, xo, w, wo, amax, +1, s), sweep(x, xo, w, wo, amax, -1, s)};
        for (float start : starts) {
            if (!(start != 0) || !Float.isFinite(start)) continue;
            short centre = Float16.fromFloat(start);
            for (int k = -ULPS; k <= ULPS; k++) {
                short bits = (short) (centre + k);
                if (((bits ^ centre) & 0x8000) != 0) continue; // stepped across zero
                float d = Float16.toFloat(bits);
                if (d == 0 || !Float.isFinite(d)) continue;
                double e = codesFor(x, xo, w, wo, d, s.trial, bestError);
                if (e < bestError) {
                    bestError = e;
                    bestD = bits;
                    System.arraycopy(s.trial, 0, s.best, 0, 32);
                    found = true;
                }
            }
        }
        if (found) write(bestD, s.best, dst, block);
    }

    /** The optimal codes for a stored scale d (round to nearest, clamp) and their error; stops early past {@code bound}. */
    private double codesFor(float[] x, int xo, float[] w, int wo, float d, int[] L, double bound) {
        double e = 0;
        for (int j = 0; j < 32; j++) {
            float xj = x[xo + j];
            int l = (int) Math.rint(xj / d);
            l = Math.max(lo, Math.min(hi, l));
            float y = l * d;
            double diff = (double) xj - y;
            e += w[wo + j] * diff * diff;
            L[j] = l;
        }
        return e <= bound ? e : Double.POSITIVE_INFINITY;
    }

    /**
     * Sweeps the inverse scale s of |d| for one sign of d over [(N-W)/amax, (N+W)/amax] (N the largest code magnitude
     * of that sign) and returns the signed least-squares scale of the best code vector, or 0.
     */
    private float sweep(float[] x, int xo, float[] w, int wo, float amax, int sign, Scratch s) {
        int mlo = sign > 0 ? lo : -hi, mhi = sign > 0 ? hi : -lo; // value = |d| * m
        int n = Math.max(-mlo, mhi);
        float sA = Math.max(n - WINDOW, 0.5f) / amax, sB = (n + WINDOW) / amax;
        double s1 = 0, s2 = 0;
        int events = 0;
        for (int j = 0; j < 32; j++) {
            float xj = x[xo + j];
            int m = Math.max(mlo, Math.min(mhi, (int) Math.rint(xj * sA)));
            s.m[j] = m;
            double wj = w[wo + j];
            s1 += wj * xj * m;
            s2 += wj * m * m;
            if (xj > 0) {
                for (int c = m; c < mhi; c++) {
                    float at = (c + 0.5f) / xj;
                    if (at > sB) break;
                    if (at > sA) s.events[events++] = event(at, j);
                }
            } else if (xj < 0) {
                for (int c = m; c > mlo; c--) {
                    float at = (c - 0.5f) / xj;
                    if (at > sB) break;
                    if (at > sA) s.events[events++] = event(at, j);
                }
            }
        }
        double bestObj = s1 > 0 && s2 > 0 ? s1 * s1 / s2 : 0;
        double bestScale = bestObj > 0 ? s1 / s2 : 0;
        Arrays.sort(s.events, 0, events);
        for (int i = 0; i < events; i++) {
            int j = (int) (s.events[i] & 0xFF);
            float xj = x[xo + j];
            int old = s.m[j], m = xj > 0 ? old + 1 : old - 1;
            s.m[j] = m;
            double wj = w[wo + j];
            s1 += wj * xj * (m - old);
            s2 += wj * ((double) m * m - (double) old * old);
            if (s1 > 0 && s2 > 0 && s1 * s1 > bestObj * s2) {
                bestObj = s1 * s1 / s2;
                bestScale = s1 / s2;
            }
        }
        return (float) (sign * bestScale);
    }

    /** Sort key: positive float bits order like the floats; the element index rides in the low byte. */
    private static long event(float at, int j) {
        return ((long) Float.floatToRawIntBits(at) << 8) | j;
    }

    private void write(short d, int[] L, MemorySegment dst, long block) {
        dst.set(LittleEndian.SHORT, block, d);
        switch (type) {
            case Q4_0 -> {
                for (int j = 0; j < 16; j++) dst.set(LittleEndian.BYTE, block + 2 + j, (byte) ((L[j] + 8) | ((L[j + 16] + 8) << 4)));
            }
            case Q5_0 -> {
                int qh = 0;
                for (int j = 0; j < 16; j++) {
                    int a = L[j] + 16, b = L[j + 16] + 16;
                    dst.set(LittleEndian.BYTE, block + 6 + j, (byte) ((a & 0xF) | ((b & 0xF) << 4)));
                    qh |= ((a >> 4) & 1) << j;
                    qh |= ((b >> 4) & 1) << (j + 16);
                }
                dst.set(LittleEndian.INT, block + 2, qh);
            }
            case Q8_0 -> {
                for (int j = 0; j < 32; j++) dst.set(LittleEndian.BYTE, block + 2 + j, (byte) L[j]);
            }
            default -> throw new IllegalStateException();
        }
    }
}
