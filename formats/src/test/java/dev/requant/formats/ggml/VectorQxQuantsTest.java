package dev.requant.formats.ggml;

import static org.assertj.core.api.Assertions.assertThat;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.SplittableRandom;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/** The lane-per-block imatrix Q4_0/Q5_0 encoder gives the scalar reference's bytes on awkward data. */
class VectorQxQuantsTest {
    static float[] data(int n, SplittableRandom r, int kind) {
        float[] x = new float[n];
        for (int i = 0; i < n; i++) {
            double v = r.nextGaussian();
            switch (kind) {
                case 1 -> v *= 1e-30;                                       // subnormal-ish products
                case 2 -> v = Math.round(v * 4) / 4.0;                      // ties
                case 3 -> v = (i / 32) % 3 == 0 ? 0 : v;                    // zero blocks
                case 4 -> v = r.nextInt(50) == 0 ? v * 1e4 : v;             // outliers
                case 5 -> v = (i % 32 == 7) ? -3 : (i % 32 == 20 ? 3 : v); // equal magnitudes, first wins
                default -> { }
            }
            x[i] = (float) v;
        }
        if (kind == 6) { x[5] = Float.NaN; x[n - 1] = Float.POSITIVE_INFINITY; }
        return x;
    }

    @ParameterizedTest
    @ValueSource(ints = {8, 16})
    void sameBytesAsScalarReference(int nmax) {
        if (!VectorSupport.enabled() || !VectorQxQuants.supported()) return;
        GgmlType type = nmax == 8 ? GgmlType.Q4_0 : GgmlType.Q5_0;
        BlockCodec ref = BlockCodec.reference(type);
        SplittableRandom r = new SplittableRandom(nmax);
        try (Arena arena = Arena.ofConfined()) {
            for (int kind = 0; kind <= 6; kind++) {
                for (int n : new int[] {32, 96, 256, 512, 544, 1024 + 96}) {
                    float[] x = data(n + 5, r, kind);
                    float[] qw = new float[n];
                    for (int i = 0; i < n; i++) qw[i] = kind == 3 && i % 3 == 0 ? 0 : (float) Math.exp(2 * r.nextGaussian());
                    long bytes = type.rowBytes(n);
                    MemorySegment a = arena.allocate(bytes), b = arena.allocate(bytes);
                    ref.encodeRow(x, 5, n, qw, a, 0);
                    VectorQxQuants.encodeRow(nmax, x, 5, n, qw, b, 0);
                    assertThat(b.toArray(ValueLayout.JAVA_BYTE)).as("kind %d n %d", kind, n).isEqualTo(a.toArray(ValueLayout.JAVA_BYTE));
                }
            }
        }
    }
}
