package dev.requant.formats.ggml;

import static org.assertj.core.api.Assertions.assertThat;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.Arrays;
import java.util.SplittableRandom;
import org.junit.jupiter.api.Test;

/**
 * make_qx_quants of sub-blocks side by side ({@link LaneQxBlocks}) against the transliteration, lane by lane, to the
 * bit; and the Q6_K encoder built on it against one assembled from the transliterated fits.
 */
class LaneQxBlocksTest {
    /** A group of n finite values of one of several shapes. */
    private static void group(SplittableRandom r, int kind, float[] x, int xo, int n) {
        double scale = Math.pow(10, r.nextInt(-30, 30));
        float a = (float) (Math.abs(r.nextGaussian()) * scale);
        for (int i = 0; i < n; i++) {
            x[xo + i] = switch (kind) {
                case 0 -> (float) (r.nextGaussian() * scale);
                case 1 -> (float) (r.nextInt(-40, 40) * scale / 8); // grid values: rounding ties, +a and -a
                case 2 -> r.nextInt(n) == 0 ? (float) (50 * scale) : (float) (r.nextGaussian() * scale); // an outlier
                case 3 -> 0f;
                case 4 -> r.nextInt(4) == 0 ? 0f : (float) (r.nextGaussian() * 1e-16); // below GROUP_MAX_EPS, or not
                case 5 -> r.nextBoolean() ? a : -a; // only +a and -a: the first decides the sign
                case 6 -> a; // all equal
                case 7 -> (float) (r.nextGaussian() * (r.nextBoolean() ? 1e30 : 1e-30)); // huge range
                case 8 -> (float) (r.nextGaussian() * 1e-41); // subnormal
                default -> (float) (Math.exp(r.nextGaussian()) * scale) * (r.nextBoolean() ? 1 : -1);
            };
        }
    }

    @Test
    void sameScaleAndCodesAsMakeQxQuants() {
        SplittableRandom r = new SplittableRandom(20261206);
        LaneQxBlocks fit = new LaneQxBlocks(96);
        int compared = 0;
        for (int nmax : new int[] {4, 32, 8, 16}) {
            for (int g : new int[] {16, 32}) {
                float[] x = new float[96 * g], w = new float[96 * g], scales = new float[96];
                byte[] L = new byte[96 * g], want = new byte[g];
                for (int call = 0; call < 300; call++) {
                    int lanes = 1 + r.nextInt(96);
                    int weights = r.nextInt(4);
                    for (int k = 0; k < lanes; k++) group(r, r.nextInt(10), x, k * g, g);
                    for (int i = 0; i < lanes * g; i++) {
                        w[i] = switch (weights) {
                            case 0 -> x[i] * x[i]; // rmse_type 1 without an imatrix
                            case 1 -> r.nextInt(8) == 0 ? 0f : (float) Math.exp(2 * r.nextGaussian());
                            case 2 -> (float) Math.exp(2 * r.nextGaussian()) * (float) Math.sqrt(1e-3 + x[i] * x[i]);
                            default -> 0f;
                        };
                        if (!Float.isFinite(w[i])) w[i] = 1f; // callers pass finite weights only
                    }
                    fit.fit(lanes, g, nmax, x, 0, w, 0, scales, 0);
                    for (int k = 0; k < lanes; k++) fit.codes(k, g, nmax, L, k * g);
                    for (int k = 0; k < lanes; k++, compared++) {
                        float scale = QuantFit.makeQxQuants(g, nmax, x, k * g, want, 0, 1, w, k * g);
                        String what = "nmax " + nmax + " g " + g + " call " + call + " lane " + k;
                        // a NaN scale (sums overflowing) may carry either sign, as LaneQxFitTest notes
                        if (Float.isNaN(scale)) assertThat(scales[k]).as(what).isNaN();
                        else assertThat(Float.floatToRawIntBits(scales[k])).as(what).isEqualTo(Float.floatToRawIntBits(scale));
                        assertThat(Arrays.copyOfRange(L, k * g, (k + 1) * g)).as(what + " codes").isEqualTo(want);
                    }
                }
            }
        }
        assertThat(compared).isGreaterThan(100_000);
    }

    @Test
    void q6kEncoderSameBytesAsTheTransliteration() {
        SplittableRandom r = new SplittableRandom(6);
        BlockCodec codec = new Q6_KCodec();
        int[] blocksPerRow = {1, 4, 9, 33};
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment got = arena.allocate(4L * 33 * Q6_KCodec.BLOCK_BYTES);
            MemorySegment want = arena.allocate(4L * 33 * Q6_KCodec.BLOCK_BYTES);
            for (int call = 0; call < 400; call++) {
                int n = blocksPerRow[call % blocksPerRow.length] * 256, rows = 1 + r.nextInt(4);
                float[] x = new float[rows * n], imp = new float[n];
                for (int j = 0; j < rows * n; j += 16) group(r, call % 3 == 2 ? r.nextInt(10) : r.nextInt(3), x, j, 16);
                if (call % 7 == 6) x[r.nextInt(rows * n)] = r.nextBoolean() ? Float.NaN : Float.POSITIVE_INFINITY;
                for (int j = 0; j < n; j++) imp[j] = r.nextInt(8) == 0 ? 0f : (float) Math.exp(2 * r.nextGaussian());
                if (call % 11 == 10) imp[r.nextInt(n)] = Float.POSITIVE_INFINITY;
                for (float[] importance : new float[][] {null, imp}) {
                    codec.encodeRows(x, 0, n, rows, importance, got, 0);
                    byte[] blk = new byte[Q6_KCodec.BLOCK_BYTES], L = new byte[256];
                    float[] scales = new float[16];
                    for (int b = 0; b < rows * n / 256; b++) {
                        Arrays.fill(blk, (byte) 0);
                        for (int j = 0; j < 16; j++) {
                            scales[j] = QuantFit.makeQxQuants(16, 32, x, b * 256 + 16 * j, L, 16 * j, 1, importance, b * 256 % n + 16 * j);
                        }
                        Q6_KCodec.finish(x, b * 256, scales, 0, L, 0, blk);
                        MemorySegment.copy(blk, 0, want, ValueLayout.JAVA_BYTE, (long) b * blk.length, blk.length);
                    }
                    long bytes = (long) rows * n / 256 * Q6_KCodec.BLOCK_BYTES;
                    assertThat(got.asSlice(0, bytes).mismatch(want.asSlice(0, bytes)))
                            .as("call %d, %d rows of %d, importance %s", call, rows, n, importance != null).isEqualTo(-1L);
                }
            }
        }
    }
}
