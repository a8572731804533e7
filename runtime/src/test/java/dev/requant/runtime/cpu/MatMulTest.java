package dev.requant.runtime.cpu;

import static org.assertj.core.api.Assertions.assertThat;

import dev.requant.formats.ggml.BlockCodec;
import dev.requant.formats.ggml.GgmlType;
import dev.requant.runtime.model.WeightTensor;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.util.SplittableRandom;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;

/**
 * y = x·Wᵀ through MatMul for each weight type: the vector path equals the scalar path (bit for bit on the panel
 * path, within rounding on the row-dot path), and both equal a plain double-precision product of the decoded weights.
 */
class MatMulTest {
    @ParameterizedTest
    @EnumSource(names = {"F32", "F16", "BF16", "Q8_0", "Q4_0"})
    void vectorEqualsScalarEqualsPlainProduct(GgmlType type) {
        SplittableRandom rnd = new SplittableRandom(11);
        try (CpuThreads one = new CpuThreads(1); CpuThreads three = new CpuThreads(3); Arena arena = Arena.ofShared()) {
            for (int K : new int[] {32, 96}) {
                int O = 2 * PanelGemm.NR + 5; // a partial last panel
                int E = 3;                    // stacked matrices; use the last
                float[] wf = PanelGemmTest.random(rnd, E * O * K);
                long rb = type.rowBytes(K);
                MemorySegment seg = arena.allocate(rb * O * E);
                for (int r = 0; r < O * E; r++) BlockCodec.of(type).encodeRow(wf, r * K, K, null, seg, r * rb);
                WeightTensor w = new WeightTensor("w", type, new long[] {K, O, E}, seg, new float[] {1f, 1f, 0.5f});
                float[] dec = new float[O * K];
                BlockCodec.of(type).decode(seg, w.rowOffset(2, 0), dec, 0, O * K);
                for (int rows : new int[] {1, 2, 3, 7, 13}) {
                    float[] x = PanelGemmTest.random(rnd, 1 + rows * (K + 1));
                    float[] ref = run(new MatMul(one, false), w, x, rows, K, O);
                    float[] fast = run(new MatMul(three, true), w, x, rows, K, O);
                    for (int t = 0; t < rows; t++) {
                        for (int o = 0; o < O; o++) {
                            double plain = 0, mag = 0;
                            for (int k = 0; k < K; k++) {
                                plain += (double) dec[o * K + k] * x[1 + t * (K + 1) + k];
                                mag += Math.abs((double) dec[o * K + k] * x[1 + t * (K + 1) + k]);
                            }
                            plain *= 0.5;
                            int i = 2 + t * (O + 2) + o;
                            assertThat((double) ref[i]).as("%s K%d rows%d (%d,%d)", type, K, rows, t, o)
                                    .isCloseTo(plain, org.assertj.core.data.Offset.offset(1e-6 * mag + 1e-12));
                            if (rows >= MatMul.PANEL_MIN_ROWS) assertThat(fast[i]).isEqualTo(ref[i]);
                            else assertThat((double) fast[i]).isCloseTo(ref[i], org.assertj.core.data.Offset.offset(1e-6 * mag + 1e-12));
                        }
                        assertThat(fast[2 + t * (O + 2) + O]).isEqualTo(-1f); // the gap between rows is untouched
                    }
                }
            }
        }
    }

    private static float[] run(MatMul mm, WeightTensor w, float[] x, int rows, int K, int O) {
        float[] y = new float[2 + rows * (O + 2)];
        java.util.Arrays.fill(y, -1f);
        mm.multiply(w, 2, x, 1, K + 1, rows, y, 2, O + 2);
        return y;
    }
}
