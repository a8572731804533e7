package dev.requant.converter.qat;

import static org.assertj.core.api.Assertions.assertThat;

import dev.requant.formats.ggml.BFloat16;
import java.io.IOException;
import java.lang.foreign.MemorySegment;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.HexFormat;
import java.util.SplittableRandom;
import org.junit.jupiter.api.Test;

/**
 * The lattice codec in a JVM started without the jdk.incubator.vector module (a launcher may start commands without
 * it): it must not fail with NoClassDefFoundError on the Vector API's types, and its fast path on the plain-Java
 * kernels ({@link Q4_0LatticeLanes}) must write the bytes the scalar reference writes here.
 */
class Q4_0LatticeWithoutVectorModuleTest {
    static final int ROWS = 60, ROW = 36 * Q4_0Lattice.QK;

    @Test
    void encodesOnTheScalarPathWithoutTheModule() throws IOException, InterruptedException {
        Path java = Path.of(System.getProperty("java.home"), "bin", "java");
        Process p = new ProcessBuilder(java.toString(), "-Xmx64m", "-XX:TieredStopAtLevel=1", "-cp", System.getProperty("java.class.path"),
                Child.class.getName()).redirectErrorStream(true).start();
        String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
        assertThat(p.waitFor()).as(out).isZero();
        assertThat(out).contains("module=false vector=false");
        assertThat(out).contains("bytes=" + HexFormat.of().formatHex(encode(null)));
    }

    /**
     * Rows of QAT blocks (learned BF16 scales), blocks with stored zeros, blocks on no lattice and
     * {@link Q4_0LatticeTest#adversarialBlock}'s kinds, encoded as a conversion does: through {@code codec} (the child's, whichever path it picks), or with null through the scalar reference
     * (this JVM has the module, so its codec would take the vector path).
     */
    static byte[] encode(LatticeQ4_0Codec codec) {
        float[] x = rows();
        byte[] out = new byte[ROWS * ROW / Q4_0Lattice.QK * Q4_0Lattice.BLOCK_BYTES];
        MemorySegment dst = MemorySegment.ofArray(out);
        long rowBytes = ROW / Q4_0Lattice.QK * Q4_0Lattice.BLOCK_BYTES;
        if (codec != null) {
            for (int r = 0; r < ROWS; r++) codec.encodeRow(x, r * ROW, ROW, null, dst, r * rowBytes);
            return out;
        }
        Q4_0Lattice ref = Q4_0LatticeTest.scalarReference();
        for (int r = 0; r < ROWS; r++) {
            for (int b = 0; b < ROW / Q4_0Lattice.QK; b++) {
                ref.solve(x, r * ROW + b * Q4_0Lattice.QK, null, 0);
                ref.writeBlock(dst, r * rowBytes + (long) b * Q4_0Lattice.BLOCK_BYTES);
            }
        }
        return out;
    }

    static float[] rows() {
        SplittableRandom r = new SplittableRandom(15);
        float[] x = new float[ROWS * ROW];
        for (int b = 0; b < x.length / Q4_0Lattice.QK; b++) {
            int o = b * Q4_0Lattice.QK, kind = b % 17;
            if (kind >= 5) { // the blocks where a shortcut could go wrong
                Q4_0LatticeTest.adversarialBlock(r, kind - 5, x, o);
                continue;
            }
            float d = BFloat16.round((float) (0.002 + 0.01 * r.nextDouble()));
            for (int i = 0; i < Q4_0Lattice.QK; i++) {
                x[o + i] = switch (kind) {
                    case 3 -> BFloat16.round((float) r.nextGaussian() * 0.02f); // no lattice: the least-error fallback
                    case 4 -> i % 3 == 0 ? -0.0f : BFloat16.round((r.nextInt(15) - 7) * d); // stored zeros
                    default -> BFloat16.round((r.nextInt(16) - 8) * d);
                };
            }
        }
        return x;
    }

    /** Entry point of the child JVM, started without --add-modules. */
    static final class Child {
        public static void main(String[] args) {
            LatticeQ4_0Codec.warmUp(); // a no-op without the Vector API; must not touch its classes either
            boolean module = ModuleLayer.boot().findModule("jdk.incubator.vector").isPresent();
            System.out.println("module=" + module + " vector=" + Q4_0Lattice.VECTOR);
            System.out.println("bytes=" + HexFormat.of().formatHex(encode(new LatticeQ4_0Codec(StoredPrecision.BF16))));
        }
    }
}
