package dev.requant.converter.quantize.search;

import dev.requant.formats.ggml.Float16;
import dev.requant.formats.ggml.GgmlType;
import dev.requant.formats.io.LittleEndian;
import java.lang.foreign.MemorySegment;

/**
 * The exhaustive search for the scale-and-offset types Q4_1 and Q5_1 (value = d * L + m, L in [0, nmax], d and m fp16).
 *
 * <p>Starting from llama.cpp's block and from the min/max block of the reference encoder, it alternates two exact
 * steps: the weighted least-squares (d, m) for the current codes, then the fp16 values around that (d, m) on a
 * (2*ULPS+1)^2 grid, each with the codes re-rounded for the stored values; a step is kept only if the error as decoded
 * drops. The codes llama.cpp stores were rounded with the unrounded scale, so even its own (d, m) usually improves.
 */
final class AffineScaleSearch extends SearchingCodec {
    static final int ULPS = 2;
    static final int ROUNDS = 3;

    private final int nmax;
    private final ThreadLocal<int[][]> scratch = ThreadLocal.withInitial(() -> new int[3][32]);

    AffineScaleSearch(GgmlType type) {
        super(type);
        nmax = switch (type) {
            case Q4_1 -> 15;
            case Q5_1 -> 31;
            default -> throw new IllegalArgumentException(type.ggmlName());
        };
    }

    @Override
    void improve(float[] x, int xo, float[] w, int wo, double llamaError, MemorySegment dst, long block) {
        int[][] s = scratch.get();
        int[] cur = s[0], trial = s[1], best = s[2];
        double bestError = llamaError;
        short bestD = 0, bestM = 0;
        boolean found = false;
        float min = Float.MAX_VALUE, max = -Float.MAX_VALUE;
        for (int j = 0; j < 32; j++) {
            min = Math.min(min, x[xo + j]);
            max = Math.max(max, x[xo + j]);
        }
        if (!Float.isFinite(min) || !Float.isFinite(max)) return;
        short[][] starts = {
            {dst.get(LittleEndian.SHORT, block), dst.get(LittleEndian.SHORT, block + 2)},
            {Float16.fromFloat((max - min) / nmax), Float16.fromFloat(min)}};
        for (short[] start : starts) {
            short d = start[0], m = start[1];
            double e = codesFor(x, xo, w, wo, Float16.toFloat(d), Float16.toFloat(m), cur, Double.POSITIVE_INFINITY);
            for (int round = 0; round < ROUNDS && Double.isFinite(e); round++) {
                double[] ls = leastSquares(x, xo, w, wo, cur);
                boolean improved = false;
                short cd = ls == null ? d : Float16.fromFloat((float) ls[0]);
                short cm = ls == null ? m : Float16.fromFloat((float) ls[1]);
                if (!Float.isFinite(Float16.toFloat(cd)) || !Float.isFinite(Float16.toFloat(cm))) break;
                short nd = d, nm = m;
                for (int i = -ULPS; i <= ULPS; i++) {
                    short td = (short) (cd + i);
                    float dv = Float16.toFloat(td);
                    if (((td ^ cd) & 0x8000) != 0 || !(dv > 0) || !Float.isFinite(dv)) continue;
                    for (int k = -ULPS; k <= ULPS; k++) {
                        short tm = (short) (cm + k);
                        float mv = Float16.toFloat(tm);
                        if (!Float.isFinite(mv)) continue;
                        double te = codesFor(x, xo, w, wo, dv, mv, trial, e);
                        if (te < e) {
                            e = te;
                            nd = td;
                            nm = tm;
                            System.arraycopy(trial, 0, cur, 0, 32);
                            improved = true;
                        }
                    }
                }
                d = nd;
                m = nm;
                if (!improved) break;
            }
            if (e < bestError) {
                bestError = e;
                bestD = d;
                bestM = m;
                System.arraycopy(cur, 0, best, 0, 32);
                found = true;
            }
        }
        if (found) write(bestD, bestM, best, dst, block);
    }

    /** Codes for stored (d, m) and their error; +Inf once past {@code bound}. */
    private double codesFor(float[] x, int xo, float[] w, int wo, float d, float m, int[] L, double bound) {
        double e = 0;
        for (int j = 0; j < 32; j++) {
            float xj = x[xo + j];
            int l = d > 0 ? (int) Math.rint((xj - m) / d) : 0;
            l = Math.max(0, Math.min(nmax, l));
            float y = l * d + m;
            double diff = (double) xj - y;
            e += w[wo + j] * diff * diff;
            L[j] = l;
        }
        return e < bound || bound == Double.POSITIVE_INFINITY ? e : Double.POSITIVE_INFINITY;
    }

    /** Weighted least squares of x ~ d*L + m; null when the codes are all equal (singular). */
    private static double[] leastSquares(float[] x, int xo, float[] w, int wo, int[] L) {
        double sw = 0, sl = 0, sll = 0, sx = 0, slx = 0;
        for (int j = 0; j < 32; j++) {
            double wj = w[wo + j], l = L[j], xj = x[xo + j];
            sw += wj;
            sl += wj * l;
            sll += wj * l * l;
            sx += wj * xj;
            slx += wj * l * xj;
        }
        double det = sw * sll - sl * sl;
        if (!(det > 0)) return null;
        double d = (sw * slx - sl * sx) / det;
        double m = (sll * sx - sl * slx) / det;
        if (!(d > 0)) return null;
        return new double[] {d, m};
    }

    private void write(short d, short m, int[] L, MemorySegment dst, long block) {
        dst.set(LittleEndian.SHORT, block, d);
        dst.set(LittleEndian.SHORT, block + 2, m);
        if (type == GgmlType.Q4_1) {
            for (int j = 0; j < 16; j++) dst.set(LittleEndian.BYTE, block + 4 + j, (byte) (L[j] | (L[j + 16] << 4)));
            return;
        }
        int qh = 0;
        for (int j = 0; j < 16; j++) {
            int a = L[j], b = L[j + 16];
            dst.set(LittleEndian.BYTE, block + 8 + j, (byte) ((a & 0xF) | ((b & 0xF) << 4)));
            qh |= ((a >> 4) & 1) << j;
            qh |= ((b >> 4) & 1) << (j + 16);
        }
        dst.set(LittleEndian.INT, block + 4, qh);
    }
}
