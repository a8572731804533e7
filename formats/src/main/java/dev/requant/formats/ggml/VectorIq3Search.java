package dev.requant.formats.ggml;

import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.IntVector;
import jdk.incubator.vector.VectorMask;
import jdk.incubator.vector.VectorOperators;
import jdk.incubator.vector.VectorSpecies;

/**
 * {@link IqSearch#searchScale} for the 4-element grids (IQ3_S, IQ3_XXS; 32 magnitudes per sub-block) with vector
 * lanes, to the bit. Two layouts:
 * <ul>
 * <li>The trial scales side by side: trial t is lane t, so the levels of an element at every trial, the grid-map
 * indices of a group, and the sums {@code sumqx}, {@code sumq2} of every trial are one vector step per element
 * (each lane adds in element order, as the scalar loop does); the trials are then compared in order, as ggml does.
 * {@code w*xval}, the same at every trial, is multiplied once per sub-block.</li>
 * <li>The neighbour search of a group off the grid (iq3_find_best_neighbour): its neighbours side by side. The terms
 * {@code w_i*(scale*q - xval_i)^2} of an element at its 8 levels are one vector; the neighbours' levels, laid out per
 * element in lanes when the tables are built ({@link Lanes}), pick their terms from it with a lane permute, and
 * the four picks are added in element order to 0, as the scalar loop does. The winner is the first lane with the
 * least distance below FLT_MAX (a minimum over the lanes, then the first lane that has it), which is the neighbour the
 * scalar {@code d2 < best_d2} scan ends on; when there is none (NaN distances), the first neighbour, as
 * {@link IqSearch#bestNeighbour} takes it.</li>
 * </ul>
 * Every lane does the scalar sequence of binary32 operations (no fused multiply-add), so levels, sums, choices and
 * the returned scale are the scalar reference's for any input, NaN and Inf included. Only loaded when
 * {@link VectorSupport} says the module is there.
 */
final class VectorIq3Search {
    private VectorIq3Search() {}

    private static final VectorSpecies<Float> F = FloatVector.SPECIES_PREFERRED;
    private static final VectorSpecies<Integer> I = IntVector.SPECIES_PREFERRED;
    private static final int V = F.length();
    private static final float MAGIC = 12582912.0f;
    /** Trial lanes: the most trials a search runs (IQ3_XXS: 31) rounded up to whole vectors. */
    private static final int TP = (31 + V - 1) / V * V;

    static boolean supported() {
        return F.length() == I.length() && (V == 8 || V == 16);
    }

    /** {@code 2*level + 1} for levels 0..7, repeated over the lanes: ggml's {@code float q = pg[i]}. */
    private static final float[] POSITIONS = new float[V];

    static {
        for (int l = 0; l < V; l++) POSITIONS[l] = 2 * (l & 7) + 1;
    }

    /**
     * The neighbour lists of a 4-element grid's {@link IqGrid.Search}, one per group of levels off the grid, in
     * chunks of V neighbours: {@code levels[start[u] + c*4*V + e*V + j]} is the level of element e of neighbour
     * {@code c*V + j} of group u, {@code count[u]} the list's length. The last chunk is filled up with copies of
     * the first neighbour: a copy ties with it and comes later, so it never wins.
     */
    static final class Lanes {
        /** IQ3_S's lists, built on first use (a tenth of a second), as each grid's are. */
        static Lanes iq3s() { return Iq3s.LANES; }

        static Lanes iq3xxs() { return Iq3xxs.LANES; }

        private static final class Iq3s {
            static final Lanes LANES = new Lanes(IqGrid.IQ3_S);
        }

        private static final class Iq3xxs {
            static final Lanes LANES = new Lanes(IqGrid.IQ3_XXS);
        }

        final int[] map;
        final int[] start = new int[4096];
        final int[] count = new int[4096];
        final int[] levels;

        private Lanes(IqGrid g) {
            IqGrid.Search s = g.search();
            map = s.map;
            int size = 0;
            for (int u = 0; u < 4096; u++) {
                if (map[u] >= 0) continue;
                int c = s.neighbours[-map[u] - 1];
                count[u] = c;
                start[u] = size;
                size += (c + V - 1) / V * 4 * V;
            }
            levels = new int[size];
            for (int u = 0; u < 4096; u++) {
                if (map[u] >= 0) continue;
                int offset = -map[u] - 1;
                int padded = (count[u] + V - 1) / V * V;
                for (int j = 0; j < padded; j++) {
                    int code = s.neighbours[offset + 1 + (j < count[u] ? j : 0)];
                    for (int e = 0; e < 4; e++) levels[start[u] + j / V * 4 * V + e * V + j % V] = code >> (3 * e) & 7;
                }
            }
        }
    }

    /** Per-thread scratch: levels and map indices of every trial ({@code [element][trial]}, {@code [group][trial]}). */
    static final class Scratch {
        final int[] lt = new int[32 * TP];
        final int[] ut = new int[8 * TP];
        /** The (trial, group) pairs off the grid, {@code trial << 3 | group}. */
        final int[] off = new int[8 * TP];
        final float[] ids = new float[TP], scales = new float[TP], sumqx = new float[TP], sumq2 = new float[TP];
        final boolean[] onGridAux = new boolean[8 * TP];
    }

    private static final ThreadLocal<Scratch> SCRATCH = ThreadLocal.withInitial(Scratch::new);

    static Scratch scratch() {
        return SCRATCH.get();
    }

    /**
     * {@link IqSearch#searchScale}{@code (g, 32, xval, weight, waux, max, steps, step, researchAll, t)} for the grid
     * of {@code lanes} (maxLevel 7): the same scale returned, the same levels left in {@code t.L} (t's other fields
     * are not used).
     */
    static float searchScale(Lanes lanes, float[] xval, float[] weight, float[] waux, float max, int steps, float step,
            boolean researchAll, IqSearch.Trial t, Scratch s) {
        final int top = 15; // 2*kMaxQ - 1
        int trials = 2 * steps + 1;
        int tp = (trials + V - 1) / V * V;
        byte[] L = t.L;
        int[] lt = s.lt;
        for (int k = 0; k < trials; k++) {
            int is = k - steps;
            float id = (top + is * step) / max;
            s.ids[k] = id;
            s.scales[k] = 1 / id;
        }
        for (int k = trials; k < tp; k++) {
            s.ids[k] = s.ids[trials - 1];
            s.scales[k] = s.scales[trials - 1];
        }
        trialLevels(s, xval, tp);
        trialNeighbours(lanes, s, xval, waux, trials, tp);
        trialSums(s, xval, weight, tp);
        float best = 0;
        float scale = max / top;
        int bestTrial = -1;
        for (int k = 0; k < trials; k++) {
            float sumqx = s.sumqx[k], sumq2 = s.sumq2[k];
            if (sumq2 > 0 && sumqx * sumqx > best * sumq2) {
                scale = sumqx / sumq2;
                best = scale * sumqx;
                bestTrial = k;
            }
        }
        int notOnGrid;
        if (bestTrial < 0) {
            java.util.Arrays.fill(L, 0, 32, (byte) 0);
            notOnGrid = researchAll ? 8 : 0;
        } else {
            for (int i = 0; i < 32; i++) L[i] = (byte) lt[i * tp + bestTrial];
            notOnGrid = 0;
            for (int g = 0; g < 8; g++) if (!s.onGridAux[bestTrial * 8 + g]) notOnGrid++;
        }
        if (notOnGrid > 0 && scale > 0) {
            int[] map = lanes.map;
            float id = 1 / scale;
            for (int g = 0; g < 8; g++) {
                if (!researchAll && s.onGridAux[bestTrial * 8 + g]) continue;
                int u = 0;
                for (int i = 0; i < 4; i++) u |= IqSearch.level(id, xval[4 * g + i], 7) << (3 * i);
                if (map[u] >= 0) {
                    for (int i = 0; i < 4; i++) L[4 * g + i] = (byte) (u >> (3 * i) & 7);
                } else {
                    int at = nearest(lanes, u, xval, waux, 4 * g, scale);
                    for (int e = 0; e < 4; e++) L[4 * g + e] = (byte) lanes.levels[at + e * V];
                }
            }
            scale = IqSearch.refitScale(xval, weight, L, 32, scale);
        }
        return scale;
    }

    // The steps below are methods of their own so that C2 compiles each whole (a search in one method outgrew its
    // inlining limits, and the compiled code then varied from run to run).

    /** The levels of every element at every trial, nearest_int(0.5f*(id*x - 1)) clamped to [0, 7], and each group's map index. */
    private static void trialLevels(Scratch s, float[] xval, int tp) {
        int[] lt = s.lt, ut = s.ut;
        for (int c = 0; c < tp; c += V) {
            FloatVector id = FloatVector.fromArray(F, s.ids, c);
            for (int i = 0; i < 32; i++) {
                FloatVector v = id.mul(xval[i]).sub(1f).mul(0.5f).add(MAGIC);
                IntVector l = v.reinterpretAsInts().and(0x007FFFFF).sub(0x00400000).min(7).max(0);
                l.intoArray(lt, i * tp + c);
            }
            for (int k = 0; k < 8; k++) {
                IntVector u = IntVector.fromArray(I, lt, 4 * k * tp + c)
                        .or(IntVector.fromArray(I, lt, (4 * k + 1) * tp + c).lanewise(VectorOperators.LSHL, 3))
                        .or(IntVector.fromArray(I, lt, (4 * k + 2) * tp + c).lanewise(VectorOperators.LSHL, 6))
                        .or(IntVector.fromArray(I, lt, (4 * k + 3) * tp + c).lanewise(VectorOperators.LSHL, 9));
                u.intoArray(ut, k * tp + c);
            }
        }
    }

    /**
     * Groups off the grid take the levels of their best neighbour at the trial's scale. They are listed first, so
     * that the searches run in a loop without the branch on each group's map entry (two in three are off the grid).
     */
    private static void trialNeighbours(Lanes lanes, Scratch s, float[] xval, float[] waux, int trials, int tp) {
        int[] map = lanes.map, lt = s.lt, ut = s.ut, off = s.off;
        int n = 0;
        for (int k = 0; k < trials; k++) {
            for (int g = 0; g < 8; g++) {
                int u = ut[g * tp + k];
                boolean on = map[u] >= 0;
                s.onGridAux[k * 8 + g] = on;
                off[n] = k << 3 | g;
                n += on ? 0 : 1;
            }
        }
        for (int j = 0; j < n; j++) {
            int k = off[j] >> 3, g = off[j] & 7;
            int at = nearest(lanes, ut[g * tp + k], xval, waux, 4 * g, s.scales[k]);
            for (int e = 0; e < 4; e++) lt[(4 * g + e) * tp + k] = lanes.levels[at + e * V];
        }
    }

    /**
     * sumqx and sumq2 of every trial, in element order: an element adds {@code (w*xval)*q} and {@code (w*q)*q} at its
     * level's q, products that depend only on the element and the level, so they are made once per sub-block, 8 in
     * a vector, and each trial's level picks its pair with a lane permute. Two vectors of trials at a time, so that
     * their chains of additions overlap.
     */
    private static void trialSums(Scratch s, float[] xval, float[] weight, int tp) {
        int[] lt = s.lt;
        FloatVector positions = FloatVector.fromArray(F, POSITIONS, 0);
        int c = 0;
        for (; c + V < tp; c += 2 * V) {
            FloatVector sqx0 = FloatVector.zero(F), sq20 = FloatVector.zero(F), sqx1 = FloatVector.zero(F), sq21 = FloatVector.zero(F);
            for (int i = 0; i < 32; i++) {
                float w = weight[i];
                IntVector qx = positions.mul(w * xval[i]).reinterpretAsInts(), q2 = positions.mul(w).mul(positions).reinterpretAsInts();
                IntVector l0 = IntVector.fromArray(I, lt, i * tp + c), l1 = IntVector.fromArray(I, lt, i * tp + c + V);
                sqx0 = sqx0.add(l0.selectFrom(qx).reinterpretAsFloats());
                sq20 = sq20.add(l0.selectFrom(q2).reinterpretAsFloats());
                sqx1 = sqx1.add(l1.selectFrom(qx).reinterpretAsFloats());
                sq21 = sq21.add(l1.selectFrom(q2).reinterpretAsFloats());
            }
            sqx0.intoArray(s.sumqx, c);
            sq20.intoArray(s.sumq2, c);
            sqx1.intoArray(s.sumqx, c + V);
            sq21.intoArray(s.sumq2, c + V);
        }
        if (c < tp) {
            FloatVector sqx = FloatVector.zero(F), sq2 = FloatVector.zero(F);
            for (int i = 0; i < 32; i++) {
                float w = weight[i];
                IntVector qx = positions.mul(w * xval[i]).reinterpretAsInts(), q2 = positions.mul(w).mul(positions).reinterpretAsInts();
                IntVector l = IntVector.fromArray(I, lt, i * tp + c);
                sqx = sqx.add(l.selectFrom(qx).reinterpretAsFloats());
                sq2 = sq2.add(l.selectFrom(q2).reinterpretAsFloats());
            }
            sqx.intoArray(s.sumqx, c);
            sq2.intoArray(s.sumq2, c);
        }
    }

    /**
     * iq3_find_best_neighbour of the 4 magnitudes at {@code xval[o..]} (weights {@code waux[o..]}) whose levels u are
     * off the grid, at {@code scale}: the index in {@code lanes.levels} of the winner's element 0 (its element e is
     * {@code V*e} further).
     */
    private static int nearest(Lanes lanes, int u, float[] xval, float[] waux, int o, float scale) {
        FloatVector sq = FloatVector.fromArray(F, POSITIONS, 0).mul(scale);
        IntVector t0 = term(sq, xval[o], waux[o]), t1 = term(sq, xval[o + 1], waux[o + 1]);
        IntVector t2 = term(sq, xval[o + 2], waux[o + 2]), t3 = term(sq, xval[o + 3], waux[o + 3]);
        int count = lanes.count[u], base = lanes.start[u];
        int[] levels = lanes.levels;
        float best = Float.MAX_VALUE;
        int winner = base; // no distance below FLT_MAX: the first neighbour
        for (int c = 0, at = base; c < count; c += V, at += 4 * V) {
            FloatVector d2 = FloatVector.zero(F)
                    .add(IntVector.fromArray(I, levels, at).selectFrom(t0).reinterpretAsFloats())
                    .add(IntVector.fromArray(I, levels, at + V).selectFrom(t1).reinterpretAsFloats())
                    .add(IntVector.fromArray(I, levels, at + 2 * V).selectFrom(t2).reinterpretAsFloats())
                    .add(IntVector.fromArray(I, levels, at + 3 * V).selectFrom(t3).reinterpretAsFloats());
            // a distance is >= +0 or NaN (a sum from +0 of terms >= 0, -0 or NaN), so the minimum's first lane is
            // the scalar scan's pick; strictly below best, so that a later chunk's tie loses as it does there
            float least = d2.reduceLanes(VectorOperators.MIN);
            if (least < best) {
                best = least;
                winner = at + Long.numberOfTrailingZeros(d2.eq(least).toLong());
            } else if (least != least) { // a NaN distance hides the others from the minimum
                VectorMask<Float> m = d2.lt(best);
                if (m.anyTrue()) {
                    best = d2.reduceLanes(VectorOperators.MIN, m);
                    winner = at + Long.numberOfTrailingZeros(d2.eq(best).and(m).toLong());
                }
            }
        }
        return winner;
    }

    /** {@code w*(scale*q - x)*(scale*q - x)} at the 8 levels, as ints for the lane permute. */
    private static IntVector term(FloatVector sq, float x, float w) {
        FloatVector diff = sq.sub(x);
        return diff.mul(w).mul(diff).reinterpretAsInts();
    }
}
