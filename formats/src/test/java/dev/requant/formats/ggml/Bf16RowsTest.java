package dev.requant.formats.ggml;

import static org.assertj.core.api.Assertions.assertThat;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.SplittableRandom;
import org.junit.jupiter.api.Test;

/** The vector widening kernel against the plain loop, and the loop against the definition: the same floats bit for bit, the same finite answer. */
class Bf16RowsTest {
    @Test
    void vectorKernelWidensAndChecksAsTheLoopDoes() {
        SplittableRandom r = new SplittableRandom(16);
        int max = 9000; // past two of the kernels' chunks of 4096
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment src = arena.allocate(2L * (max + 8));
            float[] a = new float[max + 8], b = new float[max + 8];
            int finite = 0, nonFinite = 0;
            for (int t = 0; t < 1200; t++) {
                int n = r.nextInt(max), from = r.nextInt(8), to = r.nextInt(8);
                for (int i = 0; i < n + from; i++) {
                    // any bit pattern, subnormals, zeros of both signs, and now and then a NaN or an infinity
                    short bits = (short) r.nextInt(0x10000);
                    if (r.nextInt(4) == 0) bits = (short) ((bits & 0x807F) | (r.nextBoolean() ? 0 : 0x3F00));
                    if ((bits & 0x7F80) == 0x7F80) bits &= (short) 0xBFFF; // finite, unless placed below
                    src.setAtIndex(ValueLayout.JAVA_SHORT_UNALIGNED, i, bits);
                }
                if (n > 0 && t % 2 == 0) { // half the rows: one NaN or infinity of either sign, anywhere (the tail too)
                    short bad = (short) ((r.nextBoolean() ? 0x8000 : 0) | 0x7F80 | (r.nextBoolean() ? 0 : 1 + r.nextInt(0x7F)));
                    src.setAtIndex(ValueLayout.JAVA_SHORT_UNALIGNED, from + r.nextInt(n), bad);
                }
                java.util.Arrays.fill(a, 7f);
                java.util.Arrays.fill(b, 7f);
                boolean va = Bf16Rows.toFloatFiniteVector(src, 2L * from, a, to, n);
                boolean sa = Bf16Rows.toFloatFiniteScalar(src, 2L * from, b, to, n);
                assertThat(va).as("trial %d", t).isEqualTo(sa);
                int differs = -1;
                for (int i = 0; i < a.length && differs < 0; i++) if (Float.floatToRawIntBits(a[i]) != Float.floatToRawIntBits(b[i])) differs = i;
                assertThat(differs).as("trial %d: first element that differs", t).isEqualTo(-1);
                assertThat(sa).isEqualTo(FiniteCheck.allFiniteScalar(b, to, to + n));
                if (sa) finite++; else nonFinite++;
            }
            assertThat(finite).isGreaterThan(400);
            assertThat(nonFinite).isGreaterThan(400);
        }
    }

    /**
     * The plain loop and the vector path (a chunk of 4096 at a time through an array) against the definition, one
     * little-endian value at a time: lengths around the chunk's, rows starting at odd bytes, every bit pattern's
     * widening, nothing written outside the row.
     */
    @Test
    void bothPathsWidenEveryValueAsDefined() {
        SplittableRandom r = new SplittableRandom(41);
        MemorySegment src = MemorySegment.ofArray(new byte[2 * 12_300 + 8]);
        for (long i = 0; i < src.byteSize(); i++) src.set(ValueLayout.JAVA_BYTE, i, (byte) r.nextInt(256));
        for (int n : new int[] {0, 1, 4095, 4096, 4097, 8192, 12_289}) {
            for (long from : new long[] {0, 1, 7}) {
                for (boolean vector : new boolean[] {false, true}) {
                    float[] dst = new float[n + 6];
                    java.util.Arrays.fill(dst, 7f);
                    if (vector) Bf16Rows.toFloatFiniteVector(src, from, dst, 3, n);
                    else Bf16Rows.toFloatScalar(src, from, dst, 3, n);
                    int differs = -1;
                    for (int i = 0; i < dst.length && differs < 0; i++) {
                        long at = from + 2L * (i - 3);
                        float want = i < 3 || i >= n + 3 ? 7f : Float.intBitsToFloat(
                                (src.get(ValueLayout.JAVA_BYTE, at) & 0xFF | (src.get(ValueLayout.JAVA_BYTE, at + 1) & 0xFF) << 8) << 16);
                        if (Float.floatToRawIntBits(dst[i]) != Float.floatToRawIntBits(want)) differs = i;
                    }
                    assertThat(differs).as("n %d, from %d, vector %s: first element that differs", n, from, vector).isEqualTo(-1);
                }
            }
        }
    }

    @Test
    void publicEntryPointsGiveTheSameFloatsWhicheverKernelRuns() {
        SplittableRandom r = new SplittableRandom(3);
        int n = 4099;
        MemorySegment src = MemorySegment.ofArray(new short[n]);
        for (int i = 0; i < n; i++) src.setAtIndex(ValueLayout.JAVA_SHORT, i, BFloat16.fromFloat((float) r.nextGaussian()));
        float[] a = new float[n], b = new float[n];
        Bf16Rows.toFloatScalar(src, 0, b, 0, n);
        assertThat(Bf16Rows.toFloatFinite(src, 0, a, 0, n)).isTrue();
        assertThat(a).isEqualTo(b);
        Bf16Rows.warmUp(); // may switch to the vector kernel
        java.util.Arrays.fill(a, 0f);
        Bf16Rows.toFloat(src, 0, a, 0, n);
        assertThat(a).isEqualTo(b);
        src.setAtIndex(ValueLayout.JAVA_SHORT, n - 1, (short) 0x7F80); // +Inf in the tail
        assertThat(Bf16Rows.toFloatFinite(src, 0, a, 0, n)).isFalse();
    }
}
