package dev.requant.formats.imatrix;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.within;

import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;

class ImatrixStatisticsTest {
    @Test
    void statisticsOfKnownValues() {
        // counts 2: mean squares are 1, 2, 3, 4 (blk.1) and 1, 1, 1, 1 (blk.0).
        ImatrixEntry b1 = new ImatrixEntry("blk.1.ffn_up.weight", new float[] {2, 4, 6, 8}, new long[] {2});
        ImatrixEntry b0 = new ImatrixEntry("blk.0.ffn_up.weight", new float[] {2, 2, 2, 2}, new long[] {2});
        Imatrix im = Imatrix.raw(Map.of(b1.name(), b1, b0.name(), b0), List.of(), 0, 1);
        List<ImatrixStatistics.Entry> s = ImatrixStatistics.of(im, 2);
        assertThat(s).extracting(ImatrixStatistics.Entry::name).containsExactly("blk.0.ffn_up.weight", "blk.1.ffn_up.weight");
        ImatrixStatistics.Entry u = s.get(0), e = s.get(1);
        assertThat(u.entropy()).isCloseTo(2.0, within(1e-12)); // uniform over 4 columns
        assertThat(u.stdDev()).isZero();
        assertThat(u.cosineToPrevious()).isNaN();
        assertThat(e.layer()).isEqualTo("1");
        assertThat(e.tensor()).isEqualTo("ffn_up");
        assertThat(e.count()).isEqualTo(2);
        assertThat(e.sum()).isEqualTo(10.0);
        assertThat(e.mean()).isEqualTo(2.5);
        assertThat(e.min()).isEqualTo(1.0);
        assertThat(e.max()).isEqualTo(4.0);
        assertThat(e.stdDev()).isCloseTo(Math.sqrt(5.0 / 3.0), within(1e-12));
        double h = 0;
        for (double v : new double[] {1, 2, 3, 4}) h -= v / 10 * Math.log(v / 10) / Math.log(2);
        assertThat(e.entropy()).isCloseTo(h, within(1e-12));
        assertThat(e.zdScore()).isEqualTo(0.5); // 1 and 4 are more than one sigma (1.29) from 2.5
        assertThat(e.cosineToPrevious()).isCloseTo(10 / (Math.sqrt(30) * 2), within(1e-12));
        assertThat(e.top()).containsExactly(new ImatrixStatistics.Column(3, 4f), new ImatrixStatistics.Column(2, 3f));
    }

    @Test
    void expertsWithoutTokensAreLeftOut() {
        ImatrixEntry x = new ImatrixEntry("blk.0.ffn_up_exps.weight", new float[] {4, 4, 9, 9}, new long[] {4, 0});
        var s = ImatrixStatistics.of(Imatrix.raw(Map.of(x.name(), x), List.of(), 0, 1), 3).get(0);
        assertThat(s.elements()).isEqualTo(2);
        assertThat(s.mean()).isEqualTo(1.0);
        assertThat(s.top()).extracting(ImatrixStatistics.Column::column).containsExactly(0, 1, 2);
    }
}
