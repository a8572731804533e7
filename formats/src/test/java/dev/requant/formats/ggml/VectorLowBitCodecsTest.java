package dev.requant.formats.ggml;

import static org.assertj.core.api.Assertions.assertThat;

import java.lang.foreign.MemorySegment;
import java.util.SplittableRandom;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;

/**
 * The Vector API codecs of Q1_0, Q2_0, TQ1_0, TQ2_0, Q2_K, Q3_K, IQ4_NL and IQ4_XS (and the Q4_K/Q5_K/Q6_K encoders) against their
 * scalar references:
 * identical bytes from the encoders (no importance, importance, importance with zeros) on rows whose 16-element
 * groups are of every awkward kind, at row lengths that leave the last batch of lanes part-filled; identical float
 * bits from the decoders on random bytes.
 */
class VectorLowBitCodecsTest {
    static final String[] TYPES = {"Q1_0", "Q2_0", "TQ1_0", "TQ2_0", "Q2_K", "Q3_K", "IQ4_NL", "IQ4_XS"};

    /** Midpoints of adjacent IQ4 levels: with 127 as the largest magnitude, IQ4's first trial scale lands on ties. */
    static final float[] IQ4_MIDPOINTS = {-115.5f, -93.5f, -74f, -57f, -42f, -28.5f, -16f, -4.5f, 7f, 19f, 31.5f, 45.5f, 61f, 79f, 101f};

    /**
     * Per 16-element group one kind: ordinary, tiny, huge, ties, zeros, one outlier, equal magnitudes, subnormal, IQ4
     * grid midpoints beside 127; with {@code specials} also NaN and -Inf.
     */
    static float[] awkward(SplittableRandom r, int n, boolean specials) {
        float[] x = new float[n];
        for (int g = 0; g < n / 16; g++) {
            int kind = r.nextInt(specials ? 11 : 9);
            double scale = Math.pow(10, r.nextInt(-6, 3));
            for (int j = 0; j < 16; j++) {
                int i = g * 16 + j;
                x[i] = switch (kind) {
                    case 0 -> (float) (r.nextGaussian() * scale);
                    case 1 -> (float) (r.nextGaussian() * 1e-16);
                    case 2 -> (float) (r.nextGaussian() * 1e37);
                    case 3 -> r.nextInt(-4, 5) * 0.5f;
                    case 4 -> 0f;
                    case 5 -> j == r.nextInt(16) ? 100f : (float) (r.nextGaussian() * 0.01);
                    case 6 -> j % 2 == 0 ? 1.5f : -1.5f;
                    case 7 -> Float.intBitsToFloat(r.nextInt(0x800000) | (r.nextBoolean() ? 0x80000000 : 0));
                    case 8 -> j == 0 ? 127f : IQ4_MIDPOINTS[r.nextInt(IQ4_MIDPOINTS.length)] * (r.nextBoolean() ? 1 : -1);
                    case 9 -> j == 3 ? Float.NaN : (float) r.nextGaussian();
                    default -> j == 9 ? Float.NEGATIVE_INFINITY : (float) r.nextGaussian();
                };
            }
        }
        return x;
    }

    @ParameterizedTest
    @EnumSource(names = {"Q1_0", "Q2_0", "TQ1_0", "TQ2_0", "Q2_K", "Q3_K", "Q4_K", "Q5_K", "Q6_K", "IQ4_NL", "IQ4_XS"})
    void fastEncoderGivesTheReferenceBytes(GgmlType type) {
        BlockCodec fast = BlockCodec.of(type), ref = BlockCodec.reference(type);
        assertThat(fast).isNotSameAs(ref);
        SplittableRandom r = new SplittableRandom(type.id());
        for (int superBlocks : new int[] {1, 2, 3, 5, 8, 17}) {
            int n = superBlocks * 256;
            for (int rep = 0; rep < 12; rep++) {
                float[] x = awkward(r, n + 3, rep % 4 == 3);
                float[] w = null;
                if (rep % 3 > 0) {
                    w = new float[n];
                    for (int i = 0; i < n; i++) w[i] = rep % 3 == 2 && r.nextInt(6) == 0 ? 0f : (float) Math.exp(2 * r.nextGaussian());
                }
                byte[] a = new byte[(int) type.rowBytes(n) + 2], b = new byte[a.length];
                fast.encodeRow(x, 3, n, w, MemorySegment.ofArray(a), 2);
                ref.encodeRow(x, 3, n, w, MemorySegment.ofArray(b), 2);
                assertThat(a).as("%s, %d super-blocks, rep %d", type, superBlocks, rep).isEqualTo(b);
            }
        }
    }

    /** The IQ2/IQ3 encoders with the vector neighbour search ({@link VectorIqSearch}) against the scalar search. */
    @ParameterizedTest
    @EnumSource(names = {"IQ2_XXS", "IQ2_XS", "IQ2_S", "IQ3_XXS", "IQ3_S"})
    void vectorNeighbourSearchGivesTheReferenceBytes(GgmlType type) {
        BlockCodec fast = BlockCodec.of(type), ref = BlockCodec.reference(type);
        assertThat(fast).isNotSameAs(ref);
        SplittableRandom r = new SplittableRandom(type.id() + 7);
        for (int superBlocks : new int[] {1, 2, 5}) {
            int n = superBlocks * 256;
            for (int rep = 0; rep < 8; rep++) {
                float[] x = awkward(r, n + 3, rep % 4 == 3);
                float[] w = null;
                if (rep % 3 > 0 || ref.requiresImportance()) {
                    w = new float[n];
                    for (int i = 0; i < n; i++) w[i] = rep % 3 == 2 && r.nextInt(6) == 0 ? 0f : (float) Math.exp(2 * r.nextGaussian());
                }
                byte[] a = new byte[(int) type.rowBytes(n) + 2], b = new byte[a.length];
                fast.encodeRow(x, 3, n, w, MemorySegment.ofArray(a), 2);
                ref.encodeRow(x, 3, n, w, MemorySegment.ofArray(b), 2);
                assertThat(a).as("%s, %d super-blocks, rep %d", type, superBlocks, rep).isEqualTo(b);
            }
        }
    }

    @ParameterizedTest
    @EnumSource(names = {"Q1_0", "Q2_0", "TQ1_0", "TQ2_0", "Q2_K", "Q3_K", "IQ4_NL", "IQ4_XS"})
    void fastDecoderGivesTheReferenceFloats(GgmlType type) {
        BlockCodec fast = BlockCodec.of(type), ref = BlockCodec.reference(type);
        SplittableRandom r = new SplittableRandom(type.id() + 100);
        for (int superBlocks : new int[] {1, 3, 7}) {
            int n = superBlocks * 256;
            byte[] bytes = new byte[(int) type.rowBytes(n) + 5];
            r.nextBytes(bytes);
            float[] a = new float[n + 1], b = new float[n + 1];
            fast.decode(MemorySegment.ofArray(bytes), 5, a, 1, n);
            ref.decode(MemorySegment.ofArray(bytes), 5, b, 1, n);
            for (int i = 0; i <= n; i++) {
                assertThat(Float.floatToRawIntBits(a[i])).as("%s element %d", type, i).isEqualTo(Float.floatToRawIntBits(b[i]));
            }
        }
    }
}
