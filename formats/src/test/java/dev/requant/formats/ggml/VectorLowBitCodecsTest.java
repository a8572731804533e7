package dev.requant.formats.ggml;

import static org.assertj.core.api.Assertions.assertThat;

import java.io.IOException;
import java.lang.foreign.MemorySegment;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.SplittableRandom;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;

/**
 * The Vector API codecs of Q1_0, Q2_0, TQ1_0, TQ2_0, Q2_K, Q3_K, IQ4_NL and IQ4_XS (and the Q4_K/Q5_K/Q6_K encoders) against their
 * scalar references:
 * identical bytes from the encoders (no importance, importance, importance with zeros) on rows whose 16-element
 * groups are of every awkward kind, at row lengths that leave the last batch of lanes part-filled; identical float
 * bits from the decoders on random bytes. The build's JVM runs the 16-lane kernels where the CPU has AVX-512; a child
 * JVM limited to 256-bit vectors checks the 8-lane ones.
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
                assertEncodesAlike(fast, ref, type, x, n, importance(r, n, rep), type + ", " + superBlocks + " super-blocks, rep " + rep);
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

    /** The 8-lane kernels (-XX:MaxVectorSize=32), checked in a child JVM by {@link EightLanes}. */
    @Test
    void eightLaneKernelsGiveTheReferenceBytesToo() throws IOException, InterruptedException {
        Path java = Path.of(System.getProperty("java.home"), "bin", "java");
        Process p = new ProcessBuilder(java.toString(), "--add-modules", "jdk.incubator.vector", "-XX:MaxVectorSize=32",
                "-cp", System.getProperty("java.class.path"), EightLanes.class.getName()).redirectErrorStream(true).start();
        String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
        assertThat(p.waitFor()).as(out).isZero();
        assertThat(out).contains("lanes=8").contains("fast=true").contains("mismatches=0").contains("checked=" + 2 * TYPES.length * 4);
    }

    /** Entry point of the child JVM above: fast against reference for every type, encode (with and without importance) and decode. */
    static final class EightLanes {
        public static void main(String[] args) {
            int mismatches = 0, checked = 0;
            SplittableRandom r = new SplittableRandom(8);
            for (String name : TYPES) {
                GgmlType type = GgmlType.valueOf(name);
                BlockCodec fast = BlockCodec.of(type), ref = BlockCodec.reference(type);
                for (int rep = 0; rep < 4; rep++) {
                    int n = (rep + 1) * 768;
                    float[] x = awkward(r, n, rep == 3);
                    float[] w = rep % 2 == 0 ? null : new float[n];
                    if (w != null) for (int i = 0; i < n; i++) w[i] = (float) Math.exp(2 * r.nextGaussian());
                    byte[] a = new byte[(int) type.rowBytes(n)], b = new byte[a.length];
                    fast.encodeRow(x, 0, n, w, MemorySegment.ofArray(a), 0);
                    ref.encodeRow(x, 0, n, w, MemorySegment.ofArray(b), 0);
                    if (!Arrays.equals(a, b)) mismatches++;
                    r.nextBytes(a);
                    float[] ya = new float[n], yb = new float[n];
                    fast.decode(MemorySegment.ofArray(a), 0, ya, 0, n);
                    ref.decode(MemorySegment.ofArray(a), 0, yb, 0, n);
                    for (int i = 0; i < n; i++) {
                        if (Float.floatToRawIntBits(ya[i]) != Float.floatToRawIntBits(yb[i])) {
                            mismatches++;
                            break;
                        }
                    }
                    checked += 2;
                }
            }
            System.out.println("lanes=" + jdk.incubator.vector.FloatVector.SPECIES_PREFERRED.length() + " fast=" + VectorSupport.enabled()
                    + " mismatches=" + mismatches + " checked=" + checked);
        }
    }

    /**
     * Importance for round {@code rep}: none every third round, log-normal values otherwise, with a sixth of them zero
     * every third.
     */
    static float[] importance(SplittableRandom r, int n, int rep) {
        if (rep % 3 == 0) return null;
        float[] w = new float[n];
        for (int i = 0; i < n; i++) w[i] = rep % 3 == 2 && r.nextInt(6) == 0 ? 0f : (float) Math.exp(2 * r.nextGaussian());
        return w;
    }

    /** {@code fast} and {@code ref} encode {@code x[3..3+n)} with {@code w} into the same bytes, at an odd offset. */
    static void assertEncodesAlike(BlockCodec fast, BlockCodec ref, GgmlType type, float[] x, int n, float[] w, String what) {
        byte[] a = new byte[(int) type.rowBytes(n) + 2], b = new byte[a.length];
        fast.encodeRow(x, 3, n, w, MemorySegment.ofArray(a), 2);
        ref.encodeRow(x, 3, n, w, MemorySegment.ofArray(b), 2);
        assertThat(a).as(what).isEqualTo(b);
    }
}
