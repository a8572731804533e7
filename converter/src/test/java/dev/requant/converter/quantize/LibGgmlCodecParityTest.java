package dev.requant.converter.quantize;

import static org.assertj.core.api.Assertions.assertThat;

import dev.requant.formats.ggml.BlockCodec;
import dev.requant.formats.ggml.GgmlType;
import dev.requant.testmodels.LlamaCppGgml;
import java.lang.foreign.MemorySegment;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.SplittableRandom;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;

/**
 * The codecs against ggml's own quantizers and dequantizers in node-llama-cpp's libggml-base (the build
 * llama_model_quantize runs, see {@link LlamaCppGgml}), on rows built to reach every branch: ordinary weights of
 * several scales, heavy tails, small integers (ties), zeros, sparse rows, subnormals, tiny and huge values, Inf, NaN,
 * arbitrary bit patterns and the midpoints of IQ4's grid (ties again); with no importance, random importance and
 * importance with zeros. Encoded bytes must be identical for the scalar reference and for the codec
 * {@link BlockCodec#of} hands out; decoded floats of random bytes identical bit for bit (NaN payloads aside).
 */
class LibGgmlCodecParityTest {
    static final int N = 768, ROWS_PER_KIND = 6, KINDS = 13;
    /** Midpoints of adjacent IQ4 levels: beside a largest magnitude of 127, IQ4's first trial scale lands on ties. */
    static final float[] IQ4_MIDPOINTS = {-115.5f, -93.5f, -74f, -57f, -42f, -28.5f, -16f, -4.5f, 7f, 19f, 31.5f, 45.5f, 61f, 79f, 101f};
    static LlamaCppGgml ggml;

    @BeforeAll
    static void load() {
        ggml = LlamaCppGgml.forTests();
    }

    /** Row kind k of n values (see the class comment). */
    static float[] row(SplittableRandom r, int kind, int n) {
        float[] x = new float[n];
        double scale = Math.pow(10, r.nextInt(-3, 3));
        for (int i = 0; i < n; i++) {
            x[i] = switch (kind) {
                case 0 -> (float) (r.nextGaussian() * scale);
                case 1 -> (float) (r.nextDouble(-1, 1) * 0.001);
                case 2 -> (float) Math.pow(r.nextDouble(-1, 1), 3) * 4f;
                case 3 -> r.nextInt(-4, 5);
                case 4 -> 0f;
                case 5 -> r.nextInt(29) == 0 ? (float) (r.nextGaussian() * 3) : 0f;
                case 6 -> Float.intBitsToFloat(r.nextInt(0x800000) | (r.nextBoolean() ? 0x80000000 : 0));
                case 7 -> (float) (r.nextGaussian() * 0x1p-120);
                case 8 -> (float) (r.nextDouble(-1, 1) * 3.0e38);
                case 9 -> r.nextInt(16) == 0 ? (r.nextBoolean() ? Float.POSITIVE_INFINITY : Float.NEGATIVE_INFINITY) : (float) r.nextGaussian();
                case 10 -> r.nextInt(16) == 0 ? Float.intBitsToFloat(r.nextBoolean() ? 0xFFC00000 : 0x7FC00000) : (float) r.nextGaussian();
                case 12 -> i % 32 == 0 ? 127f : IQ4_MIDPOINTS[r.nextInt(IQ4_MIDPOINTS.length)] * (r.nextBoolean() ? 1 : -1);
                default -> {
                    int u = r.nextInt();
                    if (((u >>> 23) & 0xFF) == 0xFF) u &= 0xBFFFFFFF; // finite
                    yield Float.intBitsToFloat(u);
                }
            };
        }
        return x;
    }

    /** None, log-normal, or log-normal with every eighth weight zero. */
    static float[] importance(SplittableRandom r, int variant, int n) {
        if (variant == 0) return null;
        float[] w = new float[n];
        for (int i = 0; i < n; i++) w[i] = variant == 2 && r.nextInt(8) == 0 ? 0f : (float) Math.exp(2 * r.nextGaussian());
        return w;
    }

    @ParameterizedTest
    @EnumSource(names = {"Q1_0", "Q2_0", "TQ1_0", "TQ2_0", "Q2_K", "Q3_K", "IQ4_NL", "IQ4_XS"})
    void encodeMatchesGgml(GgmlType type) {
        SplittableRandom r = new SplittableRandom(type.id() * 7919L);
        int rowBytes = (int) type.rowBytes(N);
        List<String> mismatches = new ArrayList<>();
        int compared = 0;
        for (int kind = 0; kind < KINDS; kind++) {
            float[] x = new float[N * ROWS_PER_KIND];
            for (int row = 0; row < ROWS_PER_KIND; row++) System.arraycopy(row(r, kind, N), 0, x, row * N, N);
            for (int variant = 0; variant < 3; variant++) {
                float[] w = importance(r, variant, N);
                byte[] want = ggml.quantize(type.id(), x, ROWS_PER_KIND, N, w, rowBytes);
                for (BlockCodec c : List.of(BlockCodec.reference(type), BlockCodec.of(type))) {
                    byte[] got = new byte[want.length];
                    for (int row = 0; row < ROWS_PER_KIND; row++) {
                        c.encodeRow(x, row * N, N, w, MemorySegment.ofArray(got), (long) row * rowBytes);
                    }
                    for (int row = 0; row < ROWS_PER_KIND; row++) {
                        compared++;
                        if (!Arrays.equals(got, row * rowBytes, (row + 1) * rowBytes, want, row * rowBytes, (row + 1) * rowBytes)) {
                            mismatches.add(c.getClass().getSimpleName() + " kind " + kind + " importance " + variant + " row " + row
                                    + " first differing byte " + (Arrays.mismatch(Arrays.copyOfRange(got, row * rowBytes, (row + 1) * rowBytes),
                                    Arrays.copyOfRange(want, row * rowBytes, (row + 1) * rowBytes))));
                        }
                    }
                }
            }
        }
        assertThat(mismatches).as(type + " (%d rows compared)", compared).isEmpty();
    }

    @ParameterizedTest
    @EnumSource(names = {"Q1_0", "Q2_0", "TQ1_0", "TQ2_0", "Q2_K", "Q3_K", "IQ4_NL", "IQ4_XS"})
    void decodeMatchesGgml(GgmlType type) {
        SplittableRandom r = new SplittableRandom(type.id());
        int n = 256 * 37;
        byte[] bytes = new byte[(int) type.rowBytes(n)];
        r.nextBytes(bytes);
        float[] want = ggml.dequantize(type.ggmlName(), bytes, n);
        for (BlockCodec c : List.of(BlockCodec.reference(type), BlockCodec.of(type))) {
            float[] got = new float[n];
            c.decode(MemorySegment.ofArray(bytes), 0, got, 0, n);
            for (int i = 0; i < n; i++) {
                if (Float.isNaN(want[i])) assertThat(got[i]).isNaN();
                else assertThat(Float.floatToRawIntBits(got[i])).as("%s element %d: %s vs %s", c.getClass().getSimpleName(), i, got[i], want[i])
                        .isEqualTo(Float.floatToRawIntBits(want[i]));
            }
        }
    }
}
