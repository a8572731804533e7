package dev.requant.formats.ggml;

import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.VectorOperators;
import jdk.incubator.vector.VectorSpecies;

/**
 * Whether float data holds no NaN or infinity: the check ggml_validate_row_data makes on F32/F16/BF16 tensors, which
 * llama.cpp's loader runs on every tensor (check_tensors). Run on rows after widening: an OR of the exponent fields,
 * a loop C2 vectorizes by itself (a Vector API kernel was no faster on rows from memory, and ran as boxed Java code
 * until compiled, a cost every quantization paid before its first tensor).
 */
public final class FiniteCheck {
    private FiniteCheck() {}

    /** True when {@code x[from, to)} are all finite. */
    public static boolean allFinite(float[] x, int from, int to) {
        // an exponent field of all ones (NaN, Inf) plus one carries into bit 31; any other exponent does not
        int acc = 0;
        for (int i = from; i < to; i++) acc |= (Float.floatToRawIntBits(x[i]) & 0x7f800000) + 0x00800000;
        return acc >= 0;
    }

    /** The reference: the largest magnitude is finite exactly when no element is NaN or infinite. */
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
}
