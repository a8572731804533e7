package dev.requant.formats.ggml;

/**
 * FP4 E2M1, the element format of MXFP4 and NVFP4: 1 sign bit (bit 3), 2 exponent bits, 1 mantissa bit.
 * Codes 0..7 are {0, 0.5, 1, 1.5, 2, 3, 4, 6}, codes 8..15 their negatives (8 is -0).
 *
 * <p>ggml stores the values doubled as int8 ({@code kvalues_fp4}, ggml-common.h) and halves the block scale instead
 * (see {@link E8m0#toFloatHalf}, {@link Ue4m3#toFloatHalf}); {@link #doubled} is that table.
 */
public final class Fp4E2M1 {
    private Fp4E2M1() {}

    private static final int[] DOUBLED = {0, 1, 2, 3, 4, 6, 8, 12, 0, -1, -2, -3, -4, -6, -8, -12};

    /** Largest magnitude, 6. */
    public static final float MAX = 6f;

    /** kvalues_fp4[code]: twice the E2M1 value of {@code code} (0..15). */
    public static int doubled(int code) { return DOUBLED[code & 0xF]; }

    /** The E2M1 value of {@code code} (0..15); code 8 is -0. */
    public static float toFloat(int code) {
        return (code & 0xF) == 8 ? -0f : DOUBLED[code & 0xF] * 0.5f;
    }

    /**
     * The code whose doubled value times {@code halfScale} is nearest to {@code x}, first code winning ties
     * (ggml-quants.c best_index_mxfp4: error {@code |kvalues[i]*e - x|} in float, strict less-than). A NaN x gives 0.
     */
    public static int nearestCode(float x, float halfScale) {
        int best = 0;
        float bestErr = Math.abs(DOUBLED[0] * halfScale - x);
        for (int i = 1; i < 16; i++) {
            float err = Math.abs(DOUBLED[i] * halfScale - x);
            if (err < bestErr) {
                best = i;
                bestErr = err;
            }
        }
        return best;
    }
}
