package dev.requant.converter.quantize.search;

import dev.requant.formats.ggml.Float16;
import dev.requant.formats.ggml.GgmlType;
import dev.requant.formats.io.LittleEndian;
import java.lang.foreign.MemorySegment;

/**
 * The exhaustive search for the K-quants Q4_K, Q5_K (value = d*sc_j*L - dmin*m_j, 6-bit sc/m per 32-element
 * sub-block) and Q6_K (value = d*sc_j*L, int8 sc per 16-element sub-block).
 *
 * <p>Starting from llama.cpp's super-block it runs a coordinate descent in which every step is exact for the variables
 * it changes and is kept only if the error, measured on the decoded values, drops: (1) the codes, re-rounded for the
 * stored scales; (2) per sub-block, every (sc, m) within +-{@value #SUB_RANGE} of the current pair, each with its best
 * codes (sub-blocks are independent once d and dmin are fixed); (3) the least-squares (d, dmin) for the current
 * integers and the fp16 values around it, with the codes re-rounded. llama.cpp quantizes the sub-block scales with the
 * unrounded d and never revisits them, which is where most of the gain comes from.
 */
final class KQuantScaleSearch extends SearchingCodec {
    static final int SUB_RANGE = 2;
    static final int ROUNDS = 3;

    private final boolean affine;
    private final int sub;      // elements per sub-block
    private final int nsub;
    private final int qmin, qmax;
    private final int scMin, scMax;
    private final ThreadLocal<State[]> scratch;

    KQuantScaleSearch(GgmlType type) {
        super(type);
        switch (type) {
            case Q4_K -> { affine = true; sub = 32; qmin = 0; qmax = 15; scMin = 0; scMax = 63; }
            case Q5_K -> { affine = true; sub = 32; qmin = 0; qmax = 31; scMin = 0; scMax = 63; }
            case Q6_K -> { affine = false; sub = 16; qmin = -32; qmax = 31; scMin = -128; scMax = 127; }
            default -> throw new IllegalArgumentException(type.ggmlName());
        }
        nsub = 256 / sub;
        scratch = ThreadLocal.withInitial(() -> new State[] {new State(nsub), new State(nsub)});
    }

    /** One super-block's parameters; L holds the codes (Q6_K: signed). */
    static final class State {
        float d, dmin;
        final int[] sc, mn;
        final int[] L = new int[256];
        final double[] subError;

        State(int nsub) {
            sc = new int[nsub];
            mn = new int[nsub];
            subError = new double[nsub];
        }

        void copyFrom(State o) {
            d = o.d;
            dmin = o.dmin;
            System.arraycopy(o.sc, 0, sc, 0, sc.length);
            System.arraycopy(o.mn, 0, mn, 0, mn.length);
            System.arraycopy(o.L, 0, L, 0, 256);
            System.arraycopy(o.subError, 0, subError, 0, subError.length);
        }

        double total() {
            double e = 0;
            for (double v : subError) e += v;
            return e;
        }
    }

    @Override
    void improve(float[] x, int xo, float[] w, int wo, double llamaError, MemorySegment dst, long block) {
        State[] st = scratch.get();
        State cur = st[0], trial = st[1];
        read(dst, block, cur);
        if (!Float.isFinite(cur.d) || !Float.isFinite(cur.dmin)) return;
        for (int j = 0; j < nsub; j++) cur.subError[j] = subBlock(x, xo, w, wo, j, cur.d * cur.sc[j], cur.dmin * cur.mn[j], cur.L, Double.POSITIVE_INFINITY);
        double e = cur.total();
        for (int round = 0; round < ROUNDS; round++) {
            double before = e;
            // (2) the integer scales of each sub-block
            for (int j = 0; j < nsub; j++) {
                int bestSc = cur.sc[j], bestMn = cur.mn[j];
                double best = cur.subError[j];
                int mnLo = affine ? Math.max(0, cur.mn[j] - SUB_RANGE) : 0, mnHi = affine ? Math.min(63, cur.mn[j] + SUB_RANGE) : 0;
                for (int sc = Math.max(scMin, cur.sc[j] - SUB_RANGE); sc <= Math.min(scMax, cur.sc[j] + SUB_RANGE); sc++) {
                    for (int mn = mnLo; mn <= mnHi; mn++) {
                        if (sc == cur.sc[j] && mn == cur.mn[j]) continue;
                        double se = subBlock(x, xo, w, wo, j, cur.d * sc, cur.dmin * mn, trial.L, best);
                        if (se < best) {
                            best = se;
                            bestSc = sc;
                            bestMn = mn;
                            System.arraycopy(trial.L, sub * j, cur.L, sub * j, sub);
                        }
                    }
                }
                cur.sc[j] = bestSc;
                cur.mn[j] = bestMn;
                cur.subError[j] = best;
            }
            e = cur.total();
            // (3) the fp16 super-block scales
            double[] ls = leastSquares(x, xo, w, wo, cur);
            if (ls != null) {
                short cd = Float16.fromFloat((float) ls[0]), cm = Float16.fromFloat((float) ls[1]);
                int mRange = affine ? 1 : 0;
                for (int i = -1; i <= 1; i++) {
                    for (int k = -mRange; k <= mRange; k++) {
                        float d = Float16.toFloat((short) (cd + i));
                        float dmin = affine ? Float16.toFloat((short) (cm + k)) : 0f;
                        if (!Float.isFinite(d) || !Float.isFinite(dmin) || (d == cur.d && dmin == cur.dmin)) continue;
                        trial.copyFrom(cur);
                        trial.d = d;
                        trial.dmin = dmin;
                        double te = 0;
                        for (int j = 0; j < nsub && te < e; j++) {
                            trial.subError[j] = subBlock(x, xo, w, wo, j, d * trial.sc[j], dmin * trial.mn[j], trial.L, Double.POSITIVE_INFINITY);
                            te += trial.subError[j];
                        }
                        if (te < e) {
                            cur.copyFrom(trial);
                            e = te;
                        }
                    }
                }
            }
            if (!(e < before)) break;
        }
        if (e < llamaError) write(cur, dst, block);
    }

    /**
     * Best codes of sub-block j for the decoded scale {@code d1 = d*sc} and offset {@code m1 = dmin*m} (written to
     * {@code L}), and their error; +Inf once past {@code bound}.
     */
    private double subBlock(float[] x, int xo, float[] w, int wo, int j, float d1, float m1, int[] L, double bound) {
        double e = 0;
        int base = sub * j;
        for (int i = 0; i < sub; i++) {
            float xi = x[xo + base + i];
            int l;
            float y;
            if (affine) {
                l = d1 != 0 ? (int) Math.rint((xi + m1) / d1) : 0;
                l = Math.max(qmin, Math.min(qmax, l));
                y = d1 * l - m1;
            } else {
                l = d1 != 0 ? (int) Math.rint(xi / d1) : 0;
                l = Math.max(qmin, Math.min(qmax, l));
                y = d1 * l;
            }
            double diff = (double) xi - y;
            e += w[wo + base + i] * diff * diff;
            L[base + i] = l;
            if (e >= bound) return Double.POSITIVE_INFINITY;
        }
        return e;
    }

    /** Least-squares (d, dmin) for fixed integers: y = d*(sc_j L) - dmin*m_j. Null when singular or not positive. */
    private double[] leastSquares(float[] x, int xo, float[] w, int wo, State s) {
        double saa = 0, sab = 0, sbb = 0, sax = 0, sbx = 0;
        for (int j = 0; j < nsub; j++) {
            for (int i = 0; i < sub; i++) {
                int k = sub * j + i;
                double wk = w[wo + k], a = (double) s.sc[j] * s.L[k], b = -s.mn[j], xk = x[xo + k];
                saa += wk * a * a;
                sab += wk * a * b;
                sbb += wk * b * b;
                sax += wk * a * xk;
                sbx += wk * b * xk;
            }
        }
        if (!affine) return saa > 0 ? new double[] {sax / saa, 0} : null;
        double det = saa * sbb - sab * sab;
        if (!(det > 0)) return null;
        double d = (sax * sbb - sab * sbx) / det;
        double dmin = (saa * sbx - sab * sax) / det;
        return d > 0 && dmin >= 0 ? new double[] {d, dmin} : null;
    }

    private void read(MemorySegment src, long block, State s) {
        if (affine) {
            s.d = Float16.toFloat(src.get(LittleEndian.SHORT, block));
            s.dmin = Float16.toFloat(src.get(LittleEndian.SHORT, block + 2));
            for (int j = 0; j < 8; j++) {
                s.sc[j] = j < 4 ? b(src, block + 4 + j) & 63 : (b(src, block + 4 + j + 4) & 0xF) | ((b(src, block + 4 + j - 4) >> 6) << 4);
                s.mn[j] = j < 4 ? b(src, block + 4 + j + 4) & 63 : (b(src, block + 4 + j + 4) >> 4) | ((b(src, block + 4 + j) >> 6) << 4);
            }
        } else {
            s.d = Float16.toFloat(src.get(LittleEndian.SHORT, block + 208));
            s.dmin = 0;
            for (int j = 0; j < 16; j++) {
                s.sc[j] = src.get(LittleEndian.BYTE, block + 192 + j);
                s.mn[j] = 0;
            }
        }
    }

    private static int b(MemorySegment m, long at) {
        return m.get(LittleEndian.BYTE, at) & 0xFF;
    }

    private void write(State s, MemorySegment dst, long block) {
        byte[] blk = new byte[blockBytes];
        if (affine) {
            putShort(blk, 0, Float16.fromFloat(s.d));
            putShort(blk, 2, Float16.fromFloat(s.dmin));
            for (int j = 0; j < 8; j++) {
                int ls = s.sc[j], lm = s.mn[j];
                if (j < 4) {
                    blk[4 + j] |= (byte) ls;
                    blk[4 + j + 4] |= (byte) lm;
                } else {
                    blk[4 + j + 4] = (byte) ((ls & 0xF) | ((lm & 0xF) << 4));
                    blk[4 + j - 4] |= (byte) ((ls >> 4) << 6);
                    blk[4 + j] |= (byte) ((lm >> 4) << 6);
                }
            }
            if (type == GgmlType.Q4_K) {
                for (int c = 0; c < 4; c++) {
                    for (int l = 0; l < 32; l++) blk[16 + 32 * c + l] = (byte) (s.L[64 * c + l] | (s.L[64 * c + 32 + l] << 4));
                }
            } else {
                for (int c = 0; c < 4; c++) {
                    for (int l = 0; l < 32; l++) {
                        int l1 = s.L[64 * c + l], l2 = s.L[64 * c + 32 + l];
                        if (l1 > 15) blk[16 + l] |= (byte) (1 << (2 * c));
                        if (l2 > 15) blk[16 + l] |= (byte) (2 << (2 * c));
                        blk[48 + 32 * c + l] = (byte) ((l1 & 0xF) | ((l2 & 0xF) << 4));
                    }
                }
            }
        } else {
            putShort(blk, 208, Float16.fromFloat(s.d));
            for (int j = 0; j < 16; j++) blk[192 + j] = (byte) s.sc[j];
            int ql = 0, qh = 128;
            for (int j = 0; j < 256; j += 128) {
                for (int l = 0; l < 32; ++l) {
                    int q1 = s.L[j + l] + 32, q2 = s.L[j + l + 32] + 32, q3 = s.L[j + l + 64] + 32, q4 = s.L[j + l + 96] + 32;
                    blk[ql + l] = (byte) ((q1 & 0xF) | ((q3 & 0xF) << 4));
                    blk[ql + l + 32] = (byte) ((q2 & 0xF) | ((q4 & 0xF) << 4));
                    blk[qh + l] = (byte) ((q1 >> 4) | ((q2 >> 4) << 2) | ((q3 >> 4) << 4) | ((q4 >> 4) << 6));
                }
                ql += 64;
                qh += 32;
            }
        }
        MemorySegment.copy(blk, 0, dst, LittleEndian.BYTE, block, blockBytes);
    }

    private static void putShort(byte[] b, int o, short v) {
        b[o] = (byte) v;
        b[o + 1] = (byte) (v >> 8);
    }
}
