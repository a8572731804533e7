package dev.requant.formats.imatrix;

import static org.assertj.core.api.Assertions.assertThat;

import java.util.Random;
import org.junit.jupiter.api.Test;

class ImatrixAccumulatorTest {
    @Test
    void denseRowsAddSquaresInRowOrderInFloat() {
        Random r = new Random(3);
        int rows = 37, cols = 19;
        float[] x = new float[rows * cols];
        for (int i = 0; i < x.length; i++) x[i] = (float) r.nextGaussian() * 10f;
        ImatrixAccumulator acc = new ImatrixAccumulator(16);
        acc.addDense("blk.0.w", x, 20, cols);
        float[] tail = java.util.Arrays.copyOfRange(x, 20 * cols, x.length);
        acc.addDense("blk.0.w", tail, rows - 20, cols);
        for (int j = 0; j < cols; j++) {
            float s = 0f;
            for (int i = 0; i < rows; i++) s += x[i * cols + j] * x[i * cols + j];
            assertThat(acc.stats("blk.0.w").values()[j]).isEqualTo(s); // same float rounding, whatever the batching
        }
        assertThat(acc.stats("blk.0.w").counts()).containsExactly(37);
        assertThat(acc.lastChunk()).isEqualTo(2);
        Imatrix snap = acc.snapshot("text.txt");
        assertThat(snap.chunkCount()).isEqualTo(2);
        assertThat(snap.chunkSize()).isEqualTo(16);
        assertThat(snap.datasets()).containsExactly("text.txt");
    }

    @Test
    void expertRowsFollowTheSelectedIds() {
        int tokens = 5, slots = 2, experts = 3, cols = 4;
        float[] x = new float[tokens * slots * cols];
        for (int i = 0; i < x.length; i++) x[i] = i * 0.25f - 3f;
        int[] ids = {0, 2, 1, 2, 2, 0, 1, 0, 2, 1};
        ImatrixAccumulator acc = new ImatrixAccumulator(4);
        acc.addExperts("e", x, tokens, slots, cols, ids, slots, experts);
        float[] want = new float[experts * cols];
        long[] counts = new long[experts];
        for (int t = 0; t < tokens; t++) {
            for (int s = 0; s < slots; s++) {
                int ex = ids[t * slots + s];
                counts[ex]++;
                for (int j = 0; j < cols; j++) {
                    float v = x[(t * slots + s) * cols + j];
                    want[ex * cols + j] += v * v;
                }
            }
        }
        assertThat(acc.stats("e").counts()).containsExactly(counts);
        float[] got = acc.stats("e").values();
        for (int i = 0; i < want.length; i++) assertThat(got[i]).isCloseTo(want[i], org.assertj.core.data.Offset.offset(1e-4f));

        // One input row per token, broadcast to every slot.
        ImatrixAccumulator b = new ImatrixAccumulator(4);
        float[] one = new float[tokens * cols];
        java.util.Arrays.fill(one, 2f);
        b.addExperts("e", one, tokens, 1, cols, ids, slots, experts);
        assertThat(b.stats("e").values()[0]).isEqualTo(4f * counts[0]);
    }
}
