package dev.requant.runtime.cuda;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.requant.runtime.GpuWeights;
import org.junit.jupiter.api.Test;

/** The planning of resident and streamed layers (runs everywhere: no GPU involved). */
class WeightPlacementTest {
    private static final long MIB = 1L << 20;
    /** Four layers of 100, 100, 120 and 100 MiB. */
    private static final long[] LAYERS = {100 * MIB, 100 * MIB, 120 * MIB, 100 * MIB};

    @Test
    void autoKeepsEverythingResidentWhenItFits() {
        WeightPlacement p = WeightPlacement.plan(GpuWeights.AUTO, 50 * MIB, LAYERS, 1000 * MIB, 100 * MIB);
        assertThat(p.streamed()).containsExactly(false, false, false, false);
        assertThat(p.slots()).isZero();
        assertThat(p.slotBytes()).isZero();
        assertThat(p.hostBytes()).isZero();
        assertThat(p.deviceBytes()).isEqualTo(470 * MIB);
        assertThat(p.describe()).startsWith("weights resident");
    }

    @Test
    void autoFitsExactlyAtTheBoundary() {
        // 50 + 420 + 100 = 570: resident at 570 MiB free, streamed one byte below
        assertThat(WeightPlacement.plan(GpuWeights.AUTO, 50 * MIB, LAYERS, 570 * MIB, 100 * MIB).streamedCount()).isZero();
        assertThat(WeightPlacement.plan(GpuWeights.AUTO, 50 * MIB, LAYERS, 570 * MIB - 1, 100 * MIB).streamedCount()).isPositive();
    }

    @Test
    void autoStreamsTheTrailingLayersThatDoNotFit() {
        // 500 free - 100 reserve - 50 global - 2 x 120 buffers = 110 MiB for resident layers: only layer 0
        WeightPlacement p = WeightPlacement.plan(GpuWeights.AUTO, 50 * MIB, LAYERS, 500 * MIB, 100 * MIB);
        assertThat(p.streamed()).containsExactly(false, true, true, true);
        assertThat(p.slots()).isEqualTo(2);
        assertThat(p.slotBytes()).isEqualTo(120 * MIB);
        assertThat(p.hostBytes()).isEqualTo(320 * MIB);
        assertThat(p.deviceBytes()).isEqualTo(50 * MIB + 100 * MIB + 2 * 120 * MIB);
        assertThat(p.describe()).contains("3 of 4 layers").contains("2 x 0.12 GiB");
        // six layers (620 MiB), 700 free: 700 - 100 - 50 - 2 x 120 = 310 MiB: layers 0 and 1, not 2 (120)
        long[] six = {100 * MIB, 100 * MIB, 120 * MIB, 100 * MIB, 100 * MIB, 100 * MIB};
        WeightPlacement q = WeightPlacement.plan(GpuWeights.AUTO, 50 * MIB, six, 700 * MIB, 100 * MIB);
        assertThat(q.streamed()).containsExactly(false, false, true, true, true, true);
        assertThat(q.slotBytes()).isEqualTo(120 * MIB);
        assertThat(q.hostBytes()).isEqualTo(420 * MIB);
    }

    @Test
    void theStreamedLayersAreOneRunAtTheEnd() {
        // budget 300 - 2 x 100 = 100 MiB: layer 0 (30) fits, layer 1 (100) does not; layer 2 (20) would, but stays
        // streamed: the layers stream in one run, and the first one's upload overlaps every resident layer
        long[] layers = new long[12];
        java.util.Arrays.fill(layers, 20 * MIB);
        layers[0] = 30 * MIB;
        layers[1] = 100 * MIB;
        WeightPlacement p = WeightPlacement.plan(GpuWeights.AUTO, 0, layers, 300 * MIB, 0);
        boolean[] expected = new boolean[12];
        java.util.Arrays.fill(expected, true);
        expected[0] = false;
        assertThat(p.streamed()).containsExactly(expected);
    }

    @Test
    void autoFailsWhenNotEvenTheBuffersFit() {
        assertThatThrownBy(() -> WeightPlacement.plan(GpuWeights.AUTO, 50 * MIB, LAYERS, 300 * MIB, 100 * MIB))
                .isInstanceOf(IllegalStateException.class)
                .hasMessageContaining("even when streamed").hasMessageContaining("0.29 GiB free");
    }

    @Test
    void streamAndResidentIgnoreTheFreeMemory() {
        WeightPlacement s = WeightPlacement.plan(GpuWeights.STREAM, 50 * MIB, LAYERS, 1L << 40, 0);
        assertThat(s.streamed()).containsExactly(true, true, true, true);
        assertThat(s.slotBytes()).isEqualTo(120 * MIB);
        assertThat(s.deviceBytes()).isEqualTo(50 * MIB + 240 * MIB);
        WeightPlacement r = WeightPlacement.plan(GpuWeights.RESIDENT, 50 * MIB, LAYERS, 1, 0);
        assertThat(r.streamedCount()).isZero();
        assertThat(r.deviceBytes()).isEqualTo(470 * MIB);
    }

    @Test
    void aSingleStreamedLayerNeedsOneBuffer() {
        WeightPlacement p = WeightPlacement.plan(GpuWeights.STREAM, 0, new long[] {64 * MIB}, 1L << 40, 0);
        assertThat(p.slots()).isEqualTo(1);
        assertThat(p.deviceBytes()).isEqualTo(64 * MIB);
    }
}
