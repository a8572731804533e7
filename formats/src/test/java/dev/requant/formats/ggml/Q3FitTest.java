package dev.requant.formats.ggml;

import static org.assertj.core.api.Assertions.assertThat;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.SplittableRandom;
import org.junit.jupiter.api.Test;

/**
 * Q3_K's faster scalar encoder against the transliteration of ggml's: {@link Q3Fit} against
 * {@link QuantFit#makeQ3Quants} group by group, and the whole encoder (with and without importance weights) against
 * one assembled here from the transliterated fits and the branching code-packing loop of quantize_row_q3_K_ref.
 */
class Q3FitTest {
    /** A group of n values of one of several shapes (ties, outliers, tiny, non-finite now and then). */
    private static void group(SplittableRandom r, int kind, float[] x, int xo, int n) {
        double scale = Math.pow(10, r.nextInt(-20, 20));
        for (int i = 0; i < n; i++) {
            x[xo + i] = switch (kind) {
                case 0 -> (float) (r.nextGaussian() * scale);
                case 1 -> (float) (r.nextInt(-40, 40) * scale / 8); // grid values: rounding ties
                case 2 -> r.nextInt(n) == 0 ? (float) (50 * scale) : (float) (r.nextGaussian() * scale); // an outlier
                case 3 -> r.nextInt(4) == 0 ? 0f : (float) (r.nextGaussian() * 1e-16); // below GROUP_MAX_EPS, or not
                case 4 -> r.nextInt(3) == 0 ? 0f : (float) (r.nextGaussian() * scale); // many zeros
                case 5 -> r.nextInt(40) == 0 ? (r.nextBoolean() ? Float.POSITIVE_INFINITY : Float.NaN)
                        : (float) (r.nextGaussian() * scale);
                default -> (float) (Math.exp(r.nextGaussian()) * scale) * (r.nextBoolean() ? 1 : -1);
            };
        }
    }

    /** The branch-free search picks the scan's element, to the bit: ties of +a and -a, signed zeros, Inf, NaN. */
    @Test
    void largestMagnitudeIsTheScansElement() {
        SplittableRandom r = new SplittableRandom(2026);
        float[] x = new float[40];
        for (int g = 0; g < 100_000; g++) {
            int n = r.nextInt(1, 33), xo = r.nextInt(8);
            group(r, g % 7, x, xo, n);
            switch (g % 5) {
                case 0 -> x[xo + r.nextInt(n)] = -x[xo + r.nextInt(n)]; // often a tie of +a and -a
                case 1 -> { for (int i = 0; i < n; i++) x[xo + i] = r.nextBoolean() ? 0f : -0f; }
                case 2 -> x[xo + r.nextInt(n)] = r.nextBoolean() ? Float.NEGATIVE_INFINITY : Float.NaN;
                default -> {}
            }
            float want = QuantFit.largestMagnitudeScan(x, xo, n);
            float got = QuantFit.largestMagnitude(x, xo, n);
            assertThat(Float.floatToRawIntBits(got)).as("group " + g).isEqualTo(Float.floatToRawIntBits(want));
        }
        assertThat(QuantFit.largestMagnitude(x, 0, 0)).isEqualTo(0f);
    }

    @Test
    void sameScaleAndCodesAsMakeQ3Quants() {
        SplittableRandom r = new SplittableRandom(20261206);
        for (int nmax : new int[] {2, 4, 8}) {
            for (int n : new int[] {16, 32}) {
                Q3Fit fit = new Q3Fit(n);
                float[] x = new float[n];
                byte[] expected = new byte[n], actual = new byte[n];
                for (int g = 0; g < 30_000; g++) {
                    group(r, g % 7, x, 0, n);
                    float want = QuantFit.makeQ3Quants(n, nmax, x, 0, expected, 0);
                    float got = fit.fit(n, nmax, x, 0, actual, 0);
                    String what = "nmax " + nmax + " n " + n + " group " + g;
                    if (Float.isNaN(want)) assertThat(got).as(what).isNaN();
                    else assertThat(Float.floatToRawIntBits(got)).as(what).isEqualTo(Float.floatToRawIntBits(want));
                    assertThat(actual).as(what).isEqualTo(expected);
                }
            }
        }
    }

    @Test
    void encoderSameBytesAsTheTransliteration() {
        SplittableRandom r = new SplittableRandom(7);
        int n = 4 * Q3_KCodec.QK_K;
        float[] x = new float[n];
        float[] imp = new float[n];
        BlockCodec codec = new Q3_KCodec();
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment got = arena.allocate(4 * Q3_KCodec.BLOCK_BYTES);
            MemorySegment want = arena.allocate(4 * Q3_KCodec.BLOCK_BYTES);
            for (int row = 0; row < 10_000; row++) { // 640,000 sub-blocks of 16
                for (int j = 0; j < n; j += 16) group(r, row % 4 == 3 ? r.nextInt(7) : r.nextInt(5), x, j, 16);
                for (int j = 0; j < n; j++) imp[j] = r.nextInt(8) == 0 ? 0f : (float) Math.exp(2 * r.nextGaussian());
                boolean run = row % 3 == 2; // as four rows of 256 in one call (the importance repeats per row)
                if (run) for (int j = 256; j < n; j++) imp[j] = imp[j % 256];
                for (float[] importance : new float[][] {null, imp}) {
                    if (run) codec.encodeRows(x, 0, 256, 4, importance == null ? null : java.util.Arrays.copyOf(importance, 256), got, 0);
                    else codec.encodeRow(x, 0, n, importance, got, 0);
                    reference(x, n, importance, want);
                    assertThat(got.mismatch(want)).as("row %d importance %s", row, importance != null).isEqualTo(-1L);
                }
            }
        }
    }

    /** quantize_row_q3_K_ref / _impl from the transliterated fits, as Q3_KCodec encoded before its faster paths. */
    private static void reference(float[] x, int n, float[] importance, MemorySegment dst) {
        byte[] blk = new byte[Q3_KCodec.BLOCK_BYTES];
        byte[] L = new byte[Q3_KCodec.QK_K];
        float[] scales = new float[16], weight = new float[16], sw = new float[16];
        byte[] Ls = new byte[16];
        for (int i = 0; i < n / Q3_KCodec.QK_K; i++) {
            java.util.Arrays.fill(blk, (byte) 0);
            int xb = i * Q3_KCodec.QK_K;
            if (importance == null) {
                for (int j = 0; j < 16; ++j) scales[j] = QuantFit.makeQ3Quants(16, 4, x, xb + 16 * j, L, 16 * j);
                Q3_KCodec.scalesRef(scales, 0, blk);
            } else {
                float sigma2 = ImportanceWeights.superBlockSigma2(x, xb);
                for (int j = 0; j < 16; ++j) {
                    ImportanceWeights.sigmaWeights(x, xb + 16 * j, importance, xb + 16 * j, sigma2, weight, 0, 16);
                    sw[j] = Q2_KCodec.sum16(weight, 0);
                    scales[j] = QuantFit.makeQxQuants(16, 4, x, xb + 16 * j, L, 16 * j, 1, weight, 0);
                }
                Q3_KCodec.scalesWeighted(scales, 0, sw, 0, Ls, blk);
            }
            float d0 = Float16.toFloat(Q4_KCodec.getShort(blk, Q3_KCodec.D));
            for (int j = 0; j < 16; ++j) {
                float d = d0 * Q3_KCodec.scale(j, blk);
                if (d == 0) continue;
                for (int ii = 0; ii < 16; ++ii) {
                    int l = Rounding.nearestInt(x[xb + 16 * j + ii] / d);
                    L[16 * j + ii] = (byte) (Math.max(-4, Math.min(3, l)) + 4);
                }
            }
            int m = 0;
            int hm = 1;
            for (int j = 0; j < Q3_KCodec.QK_K; ++j) {
                if (L[j] > 3) {
                    blk[m] |= (byte) hm;
                    L[j] -= 4;
                }
                if (++m == 32) {
                    m = 0;
                    hm <<= 1;
                }
            }
            Q2_KCodec.packQs2(L, 0, blk, Q3_KCodec.QS);
            MemorySegment.copy(blk, 0, dst, ValueLayout.JAVA_BYTE, (long) i * Q3_KCodec.BLOCK_BYTES, Q3_KCodec.BLOCK_BYTES);
        }
    }
}
