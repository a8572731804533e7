package dev.requant.formats.ggml;

import static org.assertj.core.api.Assertions.assertThat;

import java.io.IOException;
import java.lang.foreign.MemorySegment;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.List;
import java.util.SplittableRandom;
import org.junit.jupiter.api.Test;

/**
 * The Vector API paths against the scalar reference on random data with odd sizes and every kind of special value;
 * encoders must give identical bytes, decoders identical float bits. The build runs tests with the incubator module,
 * so the fast paths are always exercised here.
 */
class VectorCodecsTest {
    static final SplittableRandom R = new SplittableRandom(42);

    /** Mostly ordinary weights, with runs of special values (per block, so both the fast and fallback paths run). */
    static float[] nasty(int n) {
        float[] x = new float[n];
        for (int b = 0; b < n / 32; b++) {
            int kind = R.nextInt(10);
            double scale = Math.pow(10, R.nextInt(-42, 38));
            for (int j = 0; j < 32; j++) {
                int i = b * 32 + j;
                x[i] = switch (kind) {
                    case 0 -> Float.intBitsToFloat(R.nextInt());                                   // any bits: NaN payloads, Inf
                    case 1 -> Float.intBitsToFloat(R.nextInt(0x800000) | (R.nextBoolean() ? 0x80000000 : 0)); // subnormals
                    case 2 -> j == R.nextInt(32) ? Float.POSITIVE_INFINITY : (float) R.nextGaussian();
                    case 3 -> j == 5 ? Float.NaN : (float) R.nextGaussian();
                    case 4 -> 0f;
                    case 5 -> (float) (R.nextInt(-8, 9) * 0.5);                                  // ties
                    case 6 -> j % 2 == 0 ? 1.5f : -1.5f;                                          // +-amax tie: first wins
                    default -> (float) (R.nextGaussian() * scale);
                };
            }
        }
        return x;
    }

    @Test
    void fastEncodersGiveTheReferenceBytes() {
        for (BlockCodec[] pair : List.of(
                new BlockCodec[] {new VectorCodecs.FastQ8_0(true), BlockCodec.reference(GgmlType.Q8_0)},
                new BlockCodec[] {new VectorCodecs.FastQ8_0(false), BlockCodec.reference(GgmlType.Q8_0)},
                new BlockCodec[] {new VectorCodecs.FastQ4_0(true), BlockCodec.reference(GgmlType.Q4_0)},
                new BlockCodec[] {new VectorCodecs.FastQ4_0(false), BlockCodec.reference(GgmlType.Q4_0)})) {
            for (int blocks : new int[] {1, 3, 7, 33, 257}) {
                for (int rep = 0; rep < 20; rep++) {
                    int n = blocks * 32;
                    float[] x = nasty(n + 5);
                    byte[] fast = new byte[(int) pair[0].rowBytes(n) + 3];
                    byte[] ref = new byte[fast.length];
                    pair[0].encodeRow(x, 5, n, null, MemorySegment.ofArray(fast), 3);
                    pair[1].encodeRow(x, 5, n, null, MemorySegment.ofArray(ref), 3);
                    assertThat(fast).as("%s wide=%s, %d blocks", pair[0].type(), pair[0].getClass(), blocks).isEqualTo(ref);
                }
            }
        }
    }

    @Test
    void fastDecodersGiveTheReferenceFloats() {
        for (BlockCodec[] pair : List.of(
                new BlockCodec[] {new VectorCodecs.FastQ8_0(true), BlockCodec.reference(GgmlType.Q8_0)},
                new BlockCodec[] {new VectorCodecs.FastQ8_0(false), BlockCodec.reference(GgmlType.Q8_0)},
                new BlockCodec[] {new VectorCodecs.FastQ4_0(true), BlockCodec.reference(GgmlType.Q4_0)},
                new BlockCodec[] {new VectorCodecs.FastQ4_0(false), BlockCodec.reference(GgmlType.Q4_0)})) {
            for (int blocks : new int[] {1, 3, 7, 9, 31, 255}) {
                int n = blocks * pair[0].type().blockSize();
                byte[] b = new byte[(int) pair[0].rowBytes(n) + 7];
                for (int i = 0; i < b.length; i++) b[i] = (byte) R.nextInt(256);
                float[] fast = new float[n + 2], ref = new float[n + 2];
                pair[0].decode(MemorySegment.ofArray(b), 7, fast, 2, n);
                pair[1].decode(MemorySegment.ofArray(b), 7, ref, 2, n);
                for (int i = 0; i < fast.length; i++) {
                    assertThat(Float.floatToRawIntBits(fast[i])).as("%s element %d", pair[0].type(), i)
                            .isEqualTo(Float.floatToRawIntBits(ref[i]));
                }
            }
        }
    }

    @Test
    void theFastCodecsAreTheDefaultInTheBuild() {
        assertThat(VectorSupport.enabled()).isTrue();
        assertThat(BlockCodec.of(GgmlType.Q4_0)).isInstanceOf(VectorCodecs.FastQ4_0.class);
        assertThat(BlockCodec.reference(GgmlType.Q4_0)).isNotInstanceOf(VectorCodecs.FastQ4_0.class);
    }

    /** {@code -Drequant.vector=false} switches every codec to the scalar reference (checked in a child JVM). */
    @Test
    void systemPropertyForcesScalar() throws IOException, InterruptedException {
        Path java = Path.of(System.getProperty("java.home"), "bin", "java");
        Process p = new ProcessBuilder(java.toString(), "--add-modules", "jdk.incubator.vector", "-Drequant.vector=false",
                "-cp", System.getProperty("java.class.path"), ScalarProbe.class.getName()).redirectErrorStream(true).start();
        String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
        assertThat(p.waitFor()).isZero();
        assertThat(out).contains("enabled=false").contains("q4_0=Q4_0Codec").contains("q8_0=Q8_0Codec");
    }

    /** Entry point of the child JVM above. */
    static final class ScalarProbe {
        public static void main(String[] args) {
            System.out.println("enabled=" + VectorSupport.enabled() + " q4_0=" + BlockCodec.of(GgmlType.Q4_0).getClass().getSimpleName()
                    + " q8_0=" + BlockCodec.of(GgmlType.Q8_0).getClass().getSimpleName());
        }
    }
}
