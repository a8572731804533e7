package dev.requant.runtime.eval;

import static org.assertj.core.api.Assertions.assertThat;

import org.junit.jupiter.api.Test;

class PercentilesTest {
    @Test
    void interpolatesLikePerplexityCpp() {
        float[] v = {1f, 2f, 4f, 8f, 16f};
        assertThat(Percentiles.percentile(v, 0.9f)).isEqualTo(0.4f * 8f + 0.6f * 16f, org.assertj.core.data.Offset.offset(1e-5f)); // p = 3.6
        assertThat(Percentiles.percentile(v, 0f)).isEqualTo(1f);
        assertThat(Percentiles.percentile(v, 1f)).isEqualTo(16f);
        assertThat(Percentiles.median(v)).isEqualTo(4f);
        assertThat(Percentiles.median(new float[] {1f, 2f, 4f, 8f})).isEqualTo(3f);
        assertThat(Percentiles.of(v, Percentiles.KLD_LEVELS)).containsEntry(1f, 16f).containsEntry(0.5f, 4f).containsEntry(0f, 1f);
    }
}
