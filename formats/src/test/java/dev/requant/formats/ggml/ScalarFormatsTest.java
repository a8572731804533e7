package dev.requant.formats.ggml;

import static org.assertj.core.api.Assertions.assertThat;

import java.io.IOException;
import java.io.InputStream;
import java.nio.charset.StandardCharsets;
import org.junit.jupiter.api.Test;

class ScalarFormatsTest {
    /**
     * resources/ggml-crosscheck/log2f-thresholds.txt: for every binade [2^(k-1), 2^k), the bits of the smallest float
     * whose floorf(log2f(x)) is already k under glibc 2.36 (-1: none). MXFP4's exponent depends on exactly this.
     */
    @Test
    void log2fRoundsUpBelowPowersOfTwoExactlyAsGlibc() throws IOException {
        String text;
        try (InputStream in = getClass().getResourceAsStream("/ggml-crosscheck/log2f-thresholds.txt")) {
            text = new String(in.readAllBytes(), StandardCharsets.US_ASCII);
        }
        int checked = 0;
        for (String line : text.split("\n")) {
            String[] f = line.trim().split(" ");
            int k = Integer.parseInt(f[0]);
            long want = Long.parseLong(f[1]);
            int lo = Float.floatToRawIntBits(Math.scalb(1f, k - 1));
            int hi = Float.floatToRawIntBits(Math.scalb(1f, k)); // exclusive; 2^128 is +Inf's bits
            long found = -1;
            for (int b = hi - 1; b >= lo; b--) {
                if (Math.floor(Log2f.log2f(Float.intBitsToFloat(b))) >= k) found = b;
                else break;
            }
            assertThat(found).as("binade below 2^%d", k).isEqualTo(want);
            if (want >= 0) {
                float x = Float.intBitsToFloat((int) want);
                assertThat(E8m0.mxfp4Exponent(x)).isEqualTo((k - 2 + 127) & 0xFF);
                assertThat(E8m0.mxfp4Exponent(Math.nextDown(x))).isEqualTo((k - 3 + 127) & 0xFF);
            }
            checked++;
        }
        assertThat(checked).isEqualTo(277);
    }

    @Test
    void mxfp4ExponentEdges() {
        assertThat(E8m0.mxfp4Exponent(0f)).isZero();
        assertThat(E8m0.mxfp4Exponent(Float.NaN)).isZero();
        assertThat(E8m0.mxfp4Exponent(Float.POSITIVE_INFINITY)).isZero(); // (uint8_t)(float)Inf on x86-64
        assertThat(E8m0.mxfp4Exponent(6f)).isEqualTo(127);               // floor(log2 6) = 2
        assertThat(E8m0.mxfp4Exponent(Float.MIN_VALUE)).isEqualTo((-149 - 2 + 127) & 0xFF); // wraps, as in C
    }

    @Test
    void e8m0HalfValuesAndFullValues() {
        assertThat(Float.floatToRawIntBits(E8m0.toFloatHalf(0))).isEqualTo(0x00200000);
        assertThat(Float.floatToRawIntBits(E8m0.toFloatHalf(1))).isEqualTo(0x00400000);
        for (int e = 0; e < 255; e++) {
            assertThat(E8m0.toFloatHalf(e) * 2f).as("e=%d", e).isEqualTo(E8m0.toFloat(e));
            assertThat((double) E8m0.toFloat(e)).isEqualTo(Math.pow(2, e - 127));
        }
        assertThat(E8m0.toFloat(255)).isNaN();
    }

    @Test
    void ue4m3EncodeQuirksOfGgml() {
        assertThat(Ue4m3.fromFloat(1.0625f)).isEqualTo(0x39);   // half-up, not to even
        assertThat(Ue4m3.fromFloat(256f)).isEqualTo(0x7E);      // every value >= 256 saturates to 448
        assertThat(Ue4m3.fromFloat(300f)).isEqualTo(0x7E);
        assertThat(Ue4m3.fromFloat(1e9f)).isEqualTo(0x7E);
        assertThat(Ue4m3.fromFloat(0.0146f)).isEqualTo(0x07);   // the subnormal path clamps to 7
        assertThat(Ue4m3.fromFloat(0f)).isZero();
        assertThat(Ue4m3.fromFloat(-1f)).isZero();
        assertThat(Ue4m3.fromFloat(Float.NaN)).isZero();
        assertThat(Ue4m3.fromFloat(1f)).isEqualTo(0x38);
        assertThat(Ue4m3.toFloat(0x7E)).isEqualTo(448f);
        assertThat(Ue4m3.toFloat(0x7F)).isZero();               // NaN code reads as 0 in ggml
        assertThat(Ue4m3.toFloatHalf(0x38)).isEqualTo(0.5f);
        // every code below 0x78 that ggml can produce round-trips
        for (int c = 1; c < 0x78; c++) assertThat(Ue4m3.fromFloat(Ue4m3.toFloat(c))).as("code %x", c).isEqualTo(c);
    }

    @Test
    void ue4m3DecodeAgreesWithTheE4m3Decoder() {
        for (int c = 0; c < 0x7F; c++) assertThat(Ue4m3.toFloat(c)).isEqualTo(Float8.e4m3ToFloat((byte) c));
    }

    @Test
    void e4m3EncodeRoundTripsEveryCodeAndRoundsToNearestEven() {
        for (int c = 0; c < 256; c++) {
            float v = Float8.e4m3ToFloat((byte) c);
            if (Float.isNaN(v)) continue;
            int got = Float8.e4m3FromFloat(v) & 0xFF;
            if (v == 0f) assertThat(got & 0x7F).isZero();
            else assertThat(got).as("code %x", c).isEqualTo(c);
        }
        assertThat(Float8.e4m3FromFloat(1.0625f)).isEqualTo((byte) 0x38);  // tie to even (1.0), unlike UE4M3's half-up
        assertThat(Float8.e4m3FromFloat(1.1875f)).isEqualTo((byte) 0x3A);  // tie to even (1.25)
        assertThat(Float8.e4m3FromFloat(464f)).isEqualTo((byte) 0x7E);     // tie between 448 and the NaN code: 448
        assertThat(Float8.e4m3FromFloat(470f)).isEqualTo((byte) 0x7F);     // rounds into the NaN code (PyTorch too)
        assertThat(Float8.e4m3FromFloat(-1000f)).isEqualTo((byte) 0xFF);
        assertThat(Float8.e4m3FromFloatSaturating(-1000f)).isEqualTo((byte) 0xFE);
        assertThat(Float8.e4m3FromFloat(0x1p-10f)).isEqualTo((byte) 0x00); // half the smallest subnormal: to even (0)
        assertThat(Float8.e4m3FromFloat(0x1.8p-10f)).isEqualTo((byte) 0x01);
        assertThat(Float8.e4m3FromFloat(Float.NaN) & 0x7F).isEqualTo(0x7F);
    }

    @Test
    void fp4Table() {
        float[] want = {0, 0.5f, 1, 1.5f, 2, 3, 4, 6};
        for (int c = 0; c < 8; c++) {
            assertThat(Fp4E2M1.toFloat(c)).isEqualTo(want[c]);
            assertThat(Fp4E2M1.toFloat(c + 8)).isEqualTo(-want[c]);
            assertThat(Fp4E2M1.doubled(c)).isEqualTo((int) (want[c] * 2));
        }
        assertThat(Float.floatToRawIntBits(Fp4E2M1.toFloat(8))).isEqualTo(0x80000000);
        assertThat(Fp4E2M1.nearestCode(0.25f, 0.5f)).isZero();     // tie between 0 and 0.5: first code wins
        assertThat(Fp4E2M1.nearestCode(-0.25f, 0.5f)).isZero();    // 0 (code 0) before -0.5 (code 9)
        assertThat(Fp4E2M1.nearestCode(100f, 0.5f)).isEqualTo(7);
        assertThat(Fp4E2M1.nearestCode(Float.NaN, 0.5f)).isZero();
    }

    @Test
    void halfAndBfloatConversionsOfTheDocsTable() {
        assertThat(Float16.fromFloat(1 + 0x1p-11f)).isEqualTo((short) 0x3C00);
        assertThat(Float16.fromFloat(1 + 3 * 0x1p-11f)).isEqualTo((short) 0x3C02);
        assertThat(Float16.fromFloat(65519.99f)).isEqualTo((short) 0x7BFF);
        assertThat(Float16.fromFloat(65520f)).isEqualTo((short) 0x7C00);
        assertThat(Float16.fromFloat(0x1p-25f)).isEqualTo((short) 0x0000);
        assertThat(Float16.fromFloat(3 * 0x1p-25f)).isEqualTo((short) 0x0002);
        assertThat(Float16.fromFloat(-0f)).isEqualTo((short) 0x8000);
        assertThat(Float16.fromFloat(Float.intBitsToFloat(0xFF812345))).isEqualTo((short) 0xFE00);
        assertThat(BFloat16.fromFloat(1 + 0x1p-8f)).isEqualTo((short) 0x3F80);
        assertThat(BFloat16.fromFloat(1 + 3 * 0x1p-8f)).isEqualTo((short) 0x3F82);
        assertThat(BFloat16.fromFloat(3.4e38f)).isEqualTo((short) 0x7F80);
    }

    @Test
    void roundingHelpersMatchC() {
        assertThat(Rounding.roundf(0.49999997f)).isEqualTo(0f);
        assertThat(Rounding.roundf(-2.5f)).isEqualTo(-3f);
        assertThat(Rounding.roundf(2.5f)).isEqualTo(3f);
        assertThat(Rounding.nearestInt(2.5f)).isEqualTo(2);
        assertThat(Rounding.nearestInt(-3.5f)).isEqualTo(-4);
        assertThat(Rounding.cvtt(Float.POSITIVE_INFINITY)).isEqualTo(Integer.MIN_VALUE);
        assertThat(Rounding.cvtt(Float.NaN)).isEqualTo(Integer.MIN_VALUE);
        assertThat(Rounding.cvtt(-7.9f)).isEqualTo(-7);
    }
}
