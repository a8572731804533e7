package dev.requant.formats.nvfp4;

import static org.assertj.core.api.Assertions.assertThat;

import dev.requant.formats.ggml.Float8;
import dev.requant.formats.ggml.Fp4E2M1;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.util.SplittableRandom;
import org.junit.jupiter.api.Test;

class Nvfp4QuantizerTest {
    @Test
    void castFp4FollowsModelOptsTieRule() {
        // exact ties: 0.25->0, 0.75->1, 1.25->1, 1.75->2, 2.5->3 (not RNE's 2), 3.5->3 (not RNE's 4), 5->4
        float[] in = {0f, 0.25f, 0.2500001f, 0.75f, 1.25f, 1.75f, 2.5f, 3.5f, 5f, 5.0001f, 100f, -0.75f, -3.5f, -0f};
        float[] want = {0f, 0f, 0.5f, 1f, 1f, 2f, 3f, 3f, 4f, 6f, 6f, -1f, -3f, 0f};
        for (int i = 0; i < in.length; i++) {
            assertThat(Fp4E2M1.toFloat(Nvfp4Quantizer.castFp4(in[i]))).as("cast(%s)", in[i]).isEqualTo(want[i]);
        }
        assertThat(Nvfp4Quantizer.castFp4(-0f)).as("-0 has no sign bit (weight < 0 is false)").isEqualTo(0);
    }

    @Test
    void castFp4IsNearestAwayFromTies() {
        SplittableRandom r = new SplittableRandom(3);
        for (int i = 0; i < 100_000; i++) {
            float v = (float) (r.nextDouble() * 14 - 7);
            float q = Fp4E2M1.toFloat(Nvfp4Quantizer.castFp4(v));
            for (int c = 0; c < 16; c++) {
                assertThat(Math.abs(q - v)).isLessThanOrEqualTo(Math.abs(Fp4E2M1.toFloat(c) - v));
            }
        }
    }

    @Test
    void amaxBlockGetsScale448AndCodesReconstructModelOptMath() {
        float[] x = TinyFolder.weights(7, 8, 64);
        float amax = 0f;
        for (float v : x) amax = Math.max(amax, Math.abs(v));
        Nvfp4Quantizer q = Nvfp4Quantizer.modelOpt();
        GlobalScale gs = q.globalScale(amax);
        assertThat(gs.value()).isEqualTo(amax / 2688f);
        try (Arena a = Arena.ofConfined()) {
            MemorySegment p = a.allocate(8 * 32), s = a.allocate(8 * 4);
            for (int r = 0; r < 8; r++) q.quantizeRow(x, r * 64, 64, gs, null, p, r * 32L, s, r * 4L);
            Nvfp4Tensor t = new Nvfp4Tensor("m", "m.weight", 8, 64, p, s, gs, null);
            BlockScaleCensus census = BlockScaleCensus.of(t);
            assertThat(census.maxCode()).isEqualTo(0x7E);
            assertThat(census.subnormal()).as("the 1e-4 blocks need subnormal scales").isPositive();
            // independent restatement of NVFP4QTensor.quantize for every element
            float[] got = new float[64];
            for (int r = 0; r < 8; r++) {
                t.dequantizeRow(r, got, 0);
                for (int b = 0; b < 4; b++) {
                    float bamax = 0f;
                    for (int j = 0; j < 16; j++) bamax = Math.max(bamax, Math.abs(x[r * 64 + b * 16 + j]));
                    float pbs = bamax / (6f * gs.value());
                    if (pbs == 0f) pbs = 1f;
                    byte code = Float8.e4m3FromFloat(Math.max(pbs, 0x1p-9f));
                    assertThat(t.scaleCode(r, b)).isEqualTo(code & 0xFF);
                    float bs = Float8.e4m3ToFloat(code) * gs.value();
                    for (int j = 0; j < 16; j++) {
                        float v = x[r * 64 + b * 16 + j] / bs;
                        float a2 = Math.abs(v);
                        float mag = a2 <= 0.25f ? 0f : a2 < 0.75f ? 0.5f : a2 <= 1.25f ? 1f : a2 < 1.75f ? 1.5f : a2 < 2.5f ? 2f : a2 <= 3.5f ? 3f : a2 <= 5f ? 4f : 6f;
                        float want = (v < 0 ? -mag : mag) * bs;
                        assertThat(got[b * 16 + j]).as("r%d b%d j%d", r, b, j).isEqualTo(want);
                    }
                }
            }
        }
    }

    @Test
    void importanceSearchNeverLosesToAmaxScalesAndWinsSomewhere() {
        SplittableRandom r = new SplittableRandom(5);
        int cols = 256, rows = 16;
        float[] x = TinyFolder.weights(13, rows, cols);
        float[] imp = new float[cols];
        for (int i = 0; i < cols; i++) imp[i] = (float) Math.exp(r.nextGaussian() * 2);
        float amax = 0f;
        for (float v : x) amax = Math.max(amax, Math.abs(v));
        Nvfp4Quantizer q = Nvfp4Quantizer.modelOpt();
        GlobalScale gs = q.globalScale(amax);
        double plainTotal = 0, searchedTotal = 0;
        int better = 0;
        try (Arena a = Arena.ofConfined()) {
            MemorySegment p1 = a.allocate(cols / 2), s1 = a.allocate(cols / 16), p2 = a.allocate(cols / 2), s2 = a.allocate(cols / 16);
            float[] d1 = new float[cols], d2 = new float[cols];
            for (int row = 0; row < rows; row++) {
                q.quantizeRow(x, row * cols, cols, gs, null, p1, 0, s1, 0);
                q.quantizeRow(x, row * cols, cols, gs, imp, p2, 0, s2, 0);
                new Nvfp4Tensor("a", "a", 1, cols, p1, s1, gs, null).dequantizeRow(0, d1, 0);
                new Nvfp4Tensor("b", "b", 1, cols, p2, s2, gs, null).dequantizeRow(0, d2, 0);
                for (int b = 0; b < cols / 16; b++) {
                    double e1 = 0, e2 = 0;
                    for (int j = b * 16; j < b * 16 + 16; j++) {
                        e1 += imp[j] * sq(x[row * cols + j] - d1[j]);
                        e2 += imp[j] * sq(x[row * cols + j] - d2[j]);
                    }
                    assertThat(e2).isLessThanOrEqualTo(e1);
                    if (e2 < e1) better++;
                    plainTotal += e1;
                    searchedTotal += e2;
                }
            }
        }
        assertThat(better).isPositive();
        assertThat(searchedTotal).isLessThan(plainTotal);
    }

    @Test
    void compressedTensorsGlobalScaleIsTheReciprocalConvention() {
        Nvfp4Quantizer q = new Nvfp4Quantizer(GlobalScale.Convention.DIVISOR);
        GlobalScale g = q.globalScale(0.5f);
        assertThat(g.value()).isEqualTo(2688f / 0.5f);
        assertThat(g.blockScale(448f)).isEqualTo(448f / (2688f / 0.5f));
        assertThat(g.multiplier()).isEqualTo(1f / (2688f / 0.5f));
        assertThat(Nvfp4Quantizer.amaxScaleCode(0.5f, g)).isEqualTo(0x7E);
    }

    private static double sq(double d) { return d * d; }
}
