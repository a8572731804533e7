package dev.requant.formats.ggml;

import static org.assertj.core.api.Assertions.assertThat;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.util.SplittableRandom;
import org.junit.jupiter.api.Test;

/**
 * Q2_K's faster encoder against the transliteration of ggml's: {@link LaneQkxFit} against
 * {@link QuantFit#makeQkx2Quants} / {@link QuantFit#makeQkx3Quants} lane by lane (scale, the_min and codes to the
 * bit), and the whole encoder, with and without importance weights, against {@link Q2_KCodec#encodeTransliterated}
 * super-block by super-block.
 */
class LaneQkxFitTest {
    /** A group of n finite values of one of several shapes (ties, outliers, zeros, equal values, huge and tiny ranges). */
    private static void group(SplittableRandom r, int kind, float[] x, int xo, int n) {
        double scale = Math.pow(10, r.nextInt(-30, 30));
        float same = (float) (r.nextGaussian() * scale);
        for (int i = 0; i < n; i++) {
            x[xo + i] = switch (kind) {
                case 0 -> (float) (r.nextGaussian() * scale);
                case 1 -> (float) (r.nextInt(-40, 40) * scale / 8); // grid values: rounding ties
                case 2 -> r.nextInt(n) == 0 ? (float) (50 * scale) : (float) (r.nextGaussian() * scale); // an outlier
                case 3 -> 0f; // all zero
                case 4 -> r.nextInt(3) == 0 ? 0f : (float) (r.nextGaussian() * scale); // many zeros
                case 5 -> same; // all equal (positive: a min of 0 and a range; negative: degenerate)
                case 6 -> i == 0 ? same : 0f; // one value
                case 7 -> (float) (r.nextGaussian() * (r.nextBoolean() ? 1e30 : 1e-30)); // huge range, overflowing sums
                case 8 -> (float) (Math.abs(r.nextGaussian()) * scale); // all positive
                case 9 -> (float) (-Math.abs(r.nextGaussian()) * scale); // all negative
                case 10 -> (float) (r.nextGaussian() * 1e-41); // subnormal
                default -> (float) (Math.exp(r.nextGaussian()) * scale) * (r.nextBoolean() ? 1 : -1);
            };
        }
    }

    /** Weights of one of several shapes: |x| (Q2_K's plain encoder), imatrix-like, sparse, zero, one-hot. */
    private static void weights(SplittableRandom r, int kind, float[] x, int xo, float[] w, int wo, int n) {
        for (int i = 0; i < n; i++) {
            w[wo + i] = switch (kind) {
                case 0 -> Math.abs(x[xo + i]);
                case 1 -> (float) Math.exp(2 * r.nextGaussian()) * (float) Math.sqrt(1e-3 + x[xo + i] * x[xo + i]);
                case 2 -> r.nextInt(3) == 0 ? 0f : (float) Math.exp(3 * r.nextGaussian());
                case 3 -> 0f;
                case 4 -> i == n / 2 ? 1f : 0f;
                default -> r.nextInt(n) < 2 ? (float) Math.exp(8 * r.nextGaussian()) : 1e-20f;
            };
            if (!Float.isFinite(w[wo + i])) w[wo + i] = 1f; // the fit's callers pass finite weights only
        }
    }

    private record Params(int g, int nmax, float rmin, float rdelta, int nstep, boolean useMad, boolean v3) {}

    @Test
    void sameScaleMinAndCodesAsTheTransliteration() {
        SplittableRandom r = new SplittableRandom(20261206);
        Params[] params = {
            new Params(16, 3, -0.5f, 0.1f, 15, true, false), // quantize_row_q2_K_ref
            new Params(16, 3, -0.9f, 0.05f, 36, false, true), // quantize_row_q2_K_impl
            new Params(32, 15, -1f, 0.1f, 20, false, false), // quantize_row_q4_K_ref
            new Params(32, 31, -0.5f, 0.1f, 15, false, false), // quantize_row_q5_K_ref
            new Params(32, 15, -0.9f, 0.05f, 36, false, true), // quantize_row_q4_K_impl
            new Params(32, 31, -0.9f, 0.05f, 36, false, true), // quantize_row_q5_K_impl
        };
        LaneQkxFit fit = new LaneQkxFit(128);
        int compared = 0;
        for (Params p : params) {
            int g = p.g();
            float[] x = new float[128 * g], w = new float[128 * g];
            float[] scales = new float[128], mins = new float[128], min1 = new float[1];
            byte[] L = new byte[128 * g], want = new byte[g], aux = new byte[g];
            for (int call = 0; call < 600; call++) {
                int lanes = 1 + r.nextInt(128);
                for (int k = 0; k < lanes; k++) {
                    group(r, r.nextInt(12), x, k * g, g);
                    weights(r, r.nextInt(8) < 3 ? 0 : r.nextInt(6), x, k * g, w, k * g, g);
                }
                fit.fit(lanes, g, p.nmax(), x, 0, w, 0, p.rmin(), p.rdelta(), p.nstep(), p.useMad(), scales, 0, mins, 0, L, 0);
                for (int k = 0; k < lanes; k++, compared++) {
                    float scale = p.v3()
                            ? QuantFit.makeQkx3Quants(g, p.nmax(), x, k * g, w, k * g, want, 0, min1, 0, aux, p.rmin(), p.rdelta(), p.nstep(), p.useMad())
                            : QuantFit.makeQkx2Quants(g, p.nmax(), x, k * g, w, k * g, want, 0, min1, 0, aux, p.rmin(), p.rdelta(), p.nstep(), p.useMad());
                    String what = p + " call " + call + " lane " + k;
                    assertThat(bits(scales[k])).as(what + " scale").isEqualTo(bits(scale));
                    assertThat(bits(mins[k])).as(what + " min").isEqualTo(bits(min1[0]));
                    assertThat(java.util.Arrays.copyOfRange(L, k * g, (k + 1) * g)).as(what + " codes").isEqualTo(want);
                }
            }
        }
        assertThat(compared).isGreaterThan(100_000);
    }

    /** Raw bits, with every NaN as one (NaN payloads are not part of what ggml's encoders promise). */
    private static int bits(float f) {
        return Float.isNaN(f) ? 0x7fc00000 : Float.floatToRawIntBits(f);
    }

    @Test
    void encoderSameBytesAsTheTransliteration() {
        SplittableRandom r = new SplittableRandom(15);
        BlockCodec codec = new Q2_KCodec();
        Q2_KCodec.Scratch scratch = new Q2_KCodec.Scratch();
        byte[] blk = new byte[Q2_KCodec.BLOCK_BYTES];
        int[] blocksPerRow = {1, 3, 4, 8, 9, 16, 17};
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment got = arena.allocate(17L * Q2_KCodec.BLOCK_BYTES);
            MemorySegment want = arena.allocate(17L * Q2_KCodec.BLOCK_BYTES);
            for (int row = 0; row < 3_000; row++) {
                int n = blocksPerRow[row % blocksPerRow.length] * Q2_KCodec.QK_K;
                float[] x = new float[n], imp = new float[n];
                boolean oddOnes = row % 5 == 4;
                for (int j = 0; j < n; j += 16) group(r, oddOnes ? r.nextInt(12) : r.nextInt(3), x, j, 16);
                if (row % 7 == 6) x[r.nextInt(n)] = r.nextBoolean() ? Float.NaN : Float.NEGATIVE_INFINITY;
                for (int j = 0; j < n; j++) imp[j] = r.nextInt(8) == 0 ? 0f : (float) Math.exp(2 * r.nextGaussian());
                if (row % 11 == 10) imp[r.nextInt(n)] = Float.POSITIVE_INFINITY;
                for (float[] importance : new float[][] {null, imp}) {
                    if (row % 3 == 2 && n % 1024 == 0) { // as a run of four rows of n/4 (the importance repeats per row)
                        float[] quarter = importance == null ? null : java.util.Arrays.copyOf(importance, n / 4);
                        if (quarter != null) for (int j = n / 4; j < n; j++) importance[j] = quarter[j % (n / 4)];
                        codec.encodeRows(x, 0, n / 4, 4, quarter, got, 0);
                    } else {
                        codec.encodeRow(x, 0, n, importance, got, 0);
                    }
                    for (int b = 0; b < n / Q2_KCodec.QK_K; b++) {
                        java.util.Arrays.fill(blk, (byte) 0);
                        Q2_KCodec.encodeTransliterated(x, b * Q2_KCodec.QK_K, importance, b * Q2_KCodec.QK_K, scratch, blk);
                        MemorySegment.copy(blk, 0, want, java.lang.foreign.ValueLayout.JAVA_BYTE, (long) b * Q2_KCodec.BLOCK_BYTES, blk.length);
                    }
                    long bytes = (long) n / Q2_KCodec.QK_K * Q2_KCodec.BLOCK_BYTES;
                    assertThat(got.asSlice(0, bytes).mismatch(want.asSlice(0, bytes)))
                            .as("row %d (%d weights) importance %s", row, n, importance != null).isEqualTo(-1L);
                }
            }
        }
    }

    @Test
    void q4kAndQ5kEncodersSameBytesAsTheTransliteration() {
        SplittableRandom r = new SplittableRandom(45);
        int[] blocksPerRow = {1, 4, 9, 33};
        for (boolean q5 : new boolean[] {false, true}) {
            BlockCodec codec = q5 ? new Q5_KCodec() : new Q4_KCodec();
            int blockBytes = q5 ? Q5_KCodec.BLOCK_BYTES : Q4_KCodec.BLOCK_BYTES;
            try (Arena arena = Arena.ofConfined()) {
                MemorySegment got = arena.allocate(4L * 33 * blockBytes);
                MemorySegment want = arena.allocate(4L * 33 * blockBytes);
                for (int call = 0; call < 300; call++) {
                    int n = blocksPerRow[call % blocksPerRow.length] * 256, rows = 1 + r.nextInt(4);
                    float[] x = new float[rows * n], imp = new float[n];
                    for (int j = 0; j < rows * n; j += 32) group(r, call % 3 == 2 ? r.nextInt(12) : r.nextInt(3), x, j, 32);
                    if (call % 7 == 6) x[r.nextInt(rows * n)] = r.nextBoolean() ? Float.NaN : Float.POSITIVE_INFINITY;
                    for (int j = 0; j < n; j++) imp[j] = r.nextInt(8) == 0 ? 0f : (float) Math.exp(2 * r.nextGaussian());
                    for (float[] importance : new float[][] {null, imp}) {
                        codec.encodeRows(x, 0, n, rows, importance, got, 0);
                        byte[] blk = new byte[blockBytes];
                        Q4_KCodec.KQuantScratch t = new Q4_KCodec.KQuantScratch();
                        for (int b = 0; b < rows * n / 256; b++) {
                            java.util.Arrays.fill(blk, (byte) 0);
                            if (importance == null && q5) Q4_KCodec.encodeRef(x, b * 256, 31, -0.5f, 0.1f, 15, blk, t);
                            else if (importance == null) Q4_KCodec.encodeRef(x, b * 256, 15, -1f, 0.1f, 20, blk, t);
                            else Q4_KCodec.encodeWeighted(x, b * 256, importance, b * 256 % n, q5 ? 31 : 15, blk, t);
                            if (q5) Q5_KCodec.pack(t.L, 0, blk);
                            else Q4_KCodec.packQs4(t.L, 0, blk, 16);
                            MemorySegment.copy(blk, 0, want, java.lang.foreign.ValueLayout.JAVA_BYTE, (long) b * blockBytes, blockBytes);
                        }
                        long bytes = (long) rows * n / 256 * blockBytes;
                        assertThat(got.asSlice(0, bytes).mismatch(want.asSlice(0, bytes)))
                                .as("%s call %d, %d rows of %d, importance %s", q5 ? "Q5_K" : "Q4_K", call, rows, n, importance != null)
                                .isEqualTo(-1L);
                    }
                }
            }
        }
    }
}
