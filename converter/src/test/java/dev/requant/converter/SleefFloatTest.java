package dev.requant.converter;

import static org.assertj.core.api.Assertions.assertThat;

import dev.requant.formats.ggml.BlockCodec;
import dev.requant.formats.gguf.GgufFile;
import dev.requant.formats.gguf.GgufTensorInfo;
import dev.requant.formats.safetensors.SafetensorsCheckpoint;
import java.io.IOException;
import java.util.ArrayList;
import java.util.List;
import java.util.function.DoubleUnaryOperator;
import org.junit.jupiter.api.Test;

/**
 * {@link SleefFloat} against SLEEF itself, against correctly rounded values, and against the softplus torch wrote into
 * the reference mmproj GGUF.
 *
 * <p>The bit patterns in the tables are outputs of SLEEF 3.8 (the release torch vendors up to 2.11; xexpf and xlog1pf
 * are unchanged in 3.9) built from its source, {@code Sleef_expf16_u10avx512f} and {@code Sleef_log1pf16_u10avx512f}
 * called on an AVX-512 machine. The rows of {@link #NOT_CORRECTLY_ROUNDED} are the first inputs, in each of 12
 * stretches of the range, where SLEEF's result differs from the correctly rounded one: a correctly rounded
 * implementation fails every one of them.
 */
class SleefFloatTest {
    /** {function, x, SLEEF's result, correctly rounded result}, float bits. */
    static final int[][] NOT_CORRECTLY_ROUNDED = {
            {0, 0xc2bf443f, 0x0000082c, 0x0000082b}, // exp(-95.63329) (subnormal result)
            {0, 0xc2a8a7c7, 0x02a21d08, 0x02a21d09}, // exp(-84.32769)
            {0, 0xc2895530, 0x0df4c818, 0x0df4c819}, // exp(-68.66638)
            {0, 0xc253ffdb, 0x1939c4e2, 0x1939c4e1}, // exp(-52.99986)
            {0, 0xc2154ed4, 0x248de1da, 0x248de1db}, // exp(-37.32698)
            {0, 0xc1ad524b, 0x2fd656bc, 0x2fd656bb}, // exp(-21.665182)
            {0, 0xc0bfffdb, 0x3b22734c, 0x3b22734b}, // exp(-5.9999824)
            {0, 0x411ab3e8, 0x4677292e, 0x4677292d}, // exp(9.668922)
            {0, 0x41caaaac, 0x51bb2dee, 0x51bb2def}, // exp(25.333336)
            {0, 0x42240d4c, 0x5d0fee42, 0x5d0fee41}, // exp(41.012985)
            {0, 0x4262ab1b, 0x6857c49c, 0x6857c49d}, // exp(56.667095)
            {0, 0x4290acd5, 0x73a465b6, 0x73a465b5}, // exp(72.33756)
            {1, 0xbf7d3009, 0xc0905b5c, 0xc0905b5d}, // log1p(-0.9890142)
            {1, 0x3ad05882, 0x3ad02e2a, 0x3ad02e29}, // log1p(0.0015895518)
            {1, 0x3dccd6eb, 0x3dc33b2f, 0x3dc33b2e}, // log1p(0.1000193)
            {1, 0x42055716, 0x4062508e, 0x4062508d}, // log1p(33.335045)
            {1, 0x461da92f, 0x411382c8, 0x411382c7}, // log1p(10090.296)
            {1, 0x4a41e072, 0x416f8a60, 0x416f8a61}, // log1p(3176476.5)
            {1, 0x4e70853f, 0x41a5db39, 0x41a5db3a}, // log1p(1.008816e9)
            {1, 0x5295a4f2, 0x41d3f773, 0x41d3f772}, // log1p(3.2135873e11)
            {1, 0x56b83ac1, 0x4200fee6, 0x4200fee5}, // log1p(1.0128124e14)
            {1, 0x5ae0c5bb, 0x4217f8d6, 0x4217f8d7}, // log1p(3.16339e16)
            {1, 0x5f0b70d1, 0x422f03fa, 0x422f03f9}, // log1p(1.004776e19)
            {1, 0x632fb6b3, 0x42461f01, 0x42461f00}, // log1p(3.241345e21)
    };

    /** {x, SLEEF's exp(x), SLEEF's log1p(x)}, float bits: exact cases, range ends, log1p's log branch above 1e38. */
    static final int[][] EDGES = {
            {0x00000000, 0x3f800000, 0x00000000}, // 0
            {0x80000000, 0x3f800000, 0x80000000}, // -0: log1p keeps the sign
            {0x3f800000, 0x402df854, 0x3f317218}, // 1: e, ln 2
            {0xbf800000, 0x3ebc5ab2, 0xff800000}, // -1: 1/e, -inf
            {0x42b17217, 0x7f7fff84, 0x408fe52c}, // 88.72283: the largest finite exp
            {0x42b17220, 0x7f800000, 0x408fe52e}, // 88.7229: overflow
            {0xc2aeac50, 0x007fffe6, 0xffffffff}, // -87.33655: subnormal exp; log1p below -1 is NaN
            {0xc2cfcccd, 0x00000001, 0xffffffff}, // -103.9: the smallest subnormal
            {0xc2d03333, 0x00000000, 0xffffffff}, // -104.1: flushed to +0 by SLEEF's bound
            {0x42c90000, 0x7f800000, 0x4093d786}, // 100.5: inf by SLEEF's bound
            {0x7e967699, 0x7f800000, 0x42aeff18}, // 1e38: log1p's core at its bound
            {0x7f167699, 0x7f800000, 0x42b061fd}, // 2e38: log1p = logf_u1
            {0x7f7fffff, 0x7f800000, 0x42b17218}, // FLT_MAX
            {0xbf7fffff, 0x3ebc5ab2, 0xc1851592}, // -0.99999994: 1 + x = 2^-24
            {0x0da24260, 0x3f800000, 0x0da24260}, // 1e-30
            {0x41a00000, 0x4de75844, 0x4042d975}, // 20: softplus's threshold
    };

    @Test
    void reproducesSleefWhereItIsNotCorrectlyRounded() {
        for (int[] row : NOT_CORRECTLY_ROUNDED) {
            float x = Float.intBitsToFloat(row[1]);
            float sleef = row[0] == 0 ? SleefFloat.exp(x) : SleefFloat.log1p(x);
            float correct = (float) (row[0] == 0 ? Math.exp(x) : Math.log1p(x));
            String what = (row[0] == 0 ? "exp(" : "log1p(") + x + ")";
            assertThat(Float.floatToRawIntBits(correct)).as("correctly rounded " + what).isEqualTo(row[3]);
            assertThat(Float.floatToRawIntBits(sleef)).as("SleefFloat " + what).isEqualTo(row[2]);
        }
    }

    @Test
    void edgesAsSleefGivesThem() {
        for (int[] row : EDGES) {
            float x = Float.intBitsToFloat(row[0]);
            assertThat(bits(SleefFloat.exp(x))).as("exp(%s)", x).isEqualTo(canonical(row[1]));
            assertThat(bits(SleefFloat.log1p(x))).as("log1p(%s)", x).isEqualTo(canonical(row[2]));
        }
        assertThat(SleefFloat.exp(Float.NEGATIVE_INFINITY)).isEqualTo(0f);
        assertThat(SleefFloat.exp(Float.POSITIVE_INFINITY)).isEqualTo(Float.POSITIVE_INFINITY);
        assertThat(SleefFloat.exp(Float.NaN)).isNaN();
        assertThat(SleefFloat.log1p(Float.POSITIVE_INFINITY)).isEqualTo(Float.POSITIVE_INFINITY);
        assertThat(SleefFloat.log1p(Float.NEGATIVE_INFINITY)).isNaN();
        assertThat(SleefFloat.log1p(Float.NaN)).isNaN();
    }

    /**
     * An FNV-1a-style 64-bit hash of SLEEF's results (NaNs as 0x7fc00000) for the inputs with bit patterns 0, 4099, 2 * 4099, ... up to
     * 0xffffffff (1,047,809 floats of every sign and exponent), from the same SLEEF build as the tables.
     */
    static final long SLEEF_SWEEP_EXP = 0x2cc5b95f6015aab5L;
    static final long SLEEF_SWEEP_LOG1P = 0x8226faded21b1be6L;

    /**
     * Over a sweep of all floats: every result as SLEEF's (by the hash of SLEEF's results), within SLEEF's 1-ulp bound
     * of the exact value (Math's double result), and not always the correctly rounded float.
     */
    @Test
    void matchesSleefOverASweepOfAllFloats() {
        Sweep exp = sweep("exp", SleefFloat::exp, Math::exp);
        Sweep log1p = sweep("log1p", SleefFloat::log1p, Math::log1p);
        assertThat(exp.fnv()).as("hash of exp's results").isEqualTo(SLEEF_SWEEP_EXP);
        assertThat(log1p.fnv()).as("hash of log1p's results").isEqualTo(SLEEF_SWEEP_LOG1P);
        // not correctly rounded everywhere, or SleefFloat would not be needed
        assertThat(exp.notCorrectlyRounded()).isPositive();
        assertThat(log1p.notCorrectlyRounded()).isPositive();
    }

    /** The sweep's hash of results and how many differ from the correctly rounded float. */
    record Sweep(long fnv, int notCorrectlyRounded) {}

    /** Fails on an error above 1 ulp. */
    private static Sweep sweep(String name, FloatOp f, DoubleUnaryOperator exact) {
        int off = 0;
        long fnv = 0x14650fb0739d0383L; // the offset basis as SLEEF's side hashed it (FNV-1a's prime, another start)
        for (long b = 0; b <= 0xffffffffL; b += 4099) {
            float x = Float.intBitsToFloat((int) b);
            float got = f.apply(x);
            fnv = (fnv ^ (bits(got) & 0xffffffffL)) * 0x100000001b3L;
            double want = exact.applyAsDouble(x);
            float rounded = (float) want;
            if (Float.isNaN(rounded) || Float.isInfinite(rounded)) {
                assertThat(bits(got)).as("%s(%s)", name, x).isEqualTo(bits(rounded));
                continue;
            }
            double err = Math.abs(got - want);
            if (err > Math.ulp(rounded)) {
                assertThat(err).as("%s(%s) = %s, exact %s", name, x, got, want).isLessThanOrEqualTo(Math.ulp(rounded));
            }
            if (got != rounded) off++;
        }
        return new Sweep(fnv, off);
    }

    /**
     * The softplus values torch wrote into the reference GGUF for gemma4-mm-tiny's audio per_dim_scale (2 x 32, the
     * BF16 checkpoint values widened to float32): all 64 bit for bit; the correctly rounded exp/log1p pair misses 3.
     */
    @Test
    void softplusIsTorchsOnTheReferenceAudioScales() throws IOException {
        List<String> missedByCorrectRounding = new ArrayList<>();
        try (SafetensorsCheckpoint ck = SafetensorsCheckpoint.open(MmprojReferenceTest.DATA.resolve("gemma4-mm-tiny"));
                GgufFile ref = GgufFile.open(MmprojReferenceTest.DATA.resolve("gemma4-mm-tiny.mmproj-f16.gguf"))) {
            for (int blk = 0; blk < 2; blk++) {
                var e = ck.get("model.audio_tower.layers." + blk + ".self_attn.per_dim_scale").orElseThrow();
                float[] x = new float[(int) e.tensor().elementCount()];
                e.tensor().dtype().toFloats(e.file().data(e.tensor()), 0, x, 0, x.length);
                GgufTensorInfo t = ref.tensor("a.blk." + blk + ".per_dim_scale.weight").orElseThrow();
                float[] y = new float[x.length];
                assertThat(t.ne()).containsExactly(32);
                BlockCodec.of(t.type()).decode(ref.tensorData(t), 0, y, 0, y.length);
                for (int i = 0; i < x.length; i++) {
                    assertThat(bits(Gemma4Projector.softplus(x[i]))).as("a.blk.%d.per_dim_scale[%d], x = %s", blk, i, x[i]).isEqualTo(bits(y[i]));
                    if ((float) Math.log1p((float) Math.exp(x[i])) != y[i]) missedByCorrectRounding.add(blk + ":" + i);
                }
            }
        }
        assertThat(missedByCorrectRounding).containsExactly("1:0", "1:29", "1:31");
    }

    @FunctionalInterface
    interface FloatOp {
        float apply(float x);
    }

    private static int bits(float f) {
        return Float.isNaN(f) ? 0x7fc00000 : Float.floatToRawIntBits(f);
    }

    /** NaNs compared as NaN: SLEEF's payloads (0xffffffff for log1p below -1) are not part of the contract. */
    private static int canonical(int bits) {
        return bits(Float.intBitsToFloat(bits));
    }
}
