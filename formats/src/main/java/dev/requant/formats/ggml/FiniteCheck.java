package dev.requant.formats.ggml;

import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.VectorOperators;
import jdk.incubator.vector.VectorSpecies;

/**
 * Whether float data holds no NaN or infinity: the check ggml_validate_row_data makes on F32/F16/BF16 tensors, which
 * llama.cpp's loader runs on every tensor (check_tensors). Run on rows after widening, it costs one max per element;
 * vectorized when {@link VectorSupport#enabled()}.
 */
public final class FiniteCheck {
    private FiniteCheck() {}

    /** True when {@code x[from, to)} are all finite. */
    public static boolean allFinite(float[] x, int from, int to) {
        return VectorSupport.enabled() ? Vectorized.allFinite(x, from, to) : allFiniteScalar(x, from, to);
    }

    /** The scalar reference: the largest magnitude is finite exactly when no element is NaN or infinite. */
    static boolean allFiniteScalar(float[] x, int from, int to) {
        float m = 0;
        for (int i = from; i < to; i++) m = Math.max(m, Math.abs(x[i])); // Math.max propagates NaN
        return m < Float.POSITIVE_INFINITY;
    }

    /** The first index in {@code [from, to)} holding NaN or an infinity, or -1. */
    public static int firstNonFinite(float[] x, int from, int to) {
        for (int i = from; i < to; i++) if (!Float.isFinite(x[i])) return i;
        return -1;
    }

    /** Loaded only when the Vector API is present. */
    private static final class Vectorized {
        private static final VectorSpecies<Float> S = FloatVector.SPECIES_PREFERRED;

        static {
            // Get the loop compiled by C2 before the first large row: interpreted, the Vector API costs hundreds of
            // ns per element (the same reason VectorCodecs.warmUp exists).
            float[] x = new float[64];
            boolean all = true;
            for (int i = 0; i < 20_000; i++) all &= allFinite(x, 0, 64);
            if (!all) throw new AssertionError();
        }

        static boolean allFinite(float[] x, int from, int to) {
            FloatVector acc = FloatVector.zero(S);
            int i = from;
            for (int end = from + S.loopBound(to - from); i < end; i += S.length()) {
                acc = acc.max(FloatVector.fromArray(S, x, i).abs());
            }
            float m = acc.reduceLanes(VectorOperators.MAX);
            for (; i < to; i++) m = Math.max(m, Math.abs(x[i]));
            return m < Float.POSITIVE_INFINITY;
        }
    }
}
