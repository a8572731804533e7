package dev.requant.formats.ggml;

import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.VectorMask;
import jdk.incubator.vector.VectorOperators;
import jdk.incubator.vector.VectorSpecies;

/**
 * {@link IqSearch#bestNeighbour} with V neighbours per vector lane: each neighbour list is kept transposed (for each
 * block of V neighbours and each element, the V values {@code 2*level+1} side by side; NaN in unused lanes), so a
 * lane computes its neighbour's {@code sum w*(scale*q - x)^2} with the scalar search's operations in its order, and
 * the first neighbour with the smallest distance wins as in the scalar scan (a NaN distance never wins). The IQ2 and
 * IQ3 encoders spend most of their time here.
 */
final class VectorIqSearch {
    private VectorIqSearch() {}

    private static final VectorSpecies<Float> F = FloatVector.SPECIES_PREFERRED;
    private static final int V = F.length();

    static boolean supported() {
        return V >= 4;
    }

    /** A grid's neighbour lists, transposed: {@code q} from {@code start[offset]} for the list at {@code offset}. */
    private record Transposed(float[] q, int[] start) {}

    private static final Map<IqGrid, Transposed> TABLES = new ConcurrentHashMap<>();

    private static Transposed tables(IqGrid g) {
        Transposed t = TABLES.get(g);
        return t != null ? t : TABLES.computeIfAbsent(g, VectorIqSearch::transpose);
    }

    private static Transposed transpose(IqGrid g) {
        IqGrid.Search s = g.search();
        char[] nb = s.neighbours;
        int dims = g.dims;
        int[] start = new int[nb.length];
        java.util.Arrays.fill(start, -1);
        int size = 0;
        for (int m : s.map) {
            if (m >= 0 || m == Integer.MIN_VALUE) continue;
            int offset = -m - 1;
            if (start[offset] >= 0) continue;
            start[offset] = size;
            size += (nb[offset] + V - 1) / V * V * dims;
        }
        float[] q = new float[size];
        java.util.Arrays.fill(q, Float.NaN);
        for (int offset = 0; offset < nb.length; offset++) {
            if (start[offset] < 0) continue;
            int count = nb[offset];
            for (int j = 0; j < count; j++) {
                int p = nb[offset + 1 + j];
                int block = j / V, lane = j % V;
                for (int i = 0; i < dims; i++) q[start[offset] + (block * dims + i) * V + lane] = 2 * g.levels[p * dims + i] + 1;
            }
        }
        return new Transposed(q, start);
    }

    /** As {@link IqSearch#bestNeighbour}, same result. */
    static int bestNeighbour(IqGrid g, char[] neighbours, int offset, float[] xval, int xo, float[] w, int wo, float scale,
            byte[] L, int lo) {
        Transposed t = tables(g);
        float[] q = t.q;
        int count = neighbours[offset];
        int dims = g.dims;
        int at = t.start[offset];
        FloatVector sc = FloatVector.broadcast(F, scale);
        float best = Float.MAX_VALUE;
        int index = -1;
        for (int j0 = 0; j0 < count; j0 += V, at += dims * V) {
            FloatVector d2 = FloatVector.zero(F);
            for (int i = 0; i < dims; i++) {
                FloatVector diff = sc.mul(FloatVector.fromArray(F, q, at + i * V)).sub(xval[xo + i]);
                d2 = d2.add(diff.mul(w[wo + i]).mul(diff));
            }
            VectorMask<Float> better = d2.compare(VectorOperators.LT, best);
            if (better.anyTrue()) {
                float m = d2.reduceLanes(VectorOperators.MIN, better);
                int lane = d2.compare(VectorOperators.EQ, m).and(better).firstTrue();
                best = m;
                index = neighbours[offset + 1 + j0 + lane];
            }
        }
        if (index < 0) index = neighbours[offset + 1];
        System.arraycopy(g.levels, index * dims, L, lo, dims);
        return index;
    }
}
