package dev.requant.cli;

import static org.assertj.core.api.Assertions.assertThat;

import java.util.concurrent.atomic.AtomicLong;
import org.junit.jupiter.api.Test;

class BarLineTest {
    private final AtomicLong now = new AtomicLong();

    private BarLine bar(String unit, long unitSize) {
        return new BarLine(unit, unitSize, now::get);
    }

    @Test
    void fitsEightyColumnsWithARealBar() {
        BarLine b = bar("tok", 1);
        b.render("eval", 512, 18432, "gemma3-tiny.q4_0.gguf chunk 2", 79);
        now.addAndGet(2_000_000_000L);
        String line = b.render("eval", 1536, 18432, "gemma3-tiny.q4_0.gguf chunk 4", 79);
        assertThat(line).hasSizeLessThanOrEqualTo(79).startsWith("eval   8% [").contains("] 1536/18432 tok");
        assertThat(line.substring(line.indexOf('[') + 1, line.indexOf(']'))).hasSizeGreaterThanOrEqualTo(BarLine.MIN_BAR);
        for (int w : new int[] {40, 60, 100, 200}) assertThat(b.render("eval", 1536, 18432, "chunk 4", w)).hasSizeLessThanOrEqualTo(w);
    }

    @Test
    void noRateOrEtaBeforeTheFirstUnitNorFromTheTimeBeforeIt() {
        BarLine b = bar("tok", 1);
        now.addAndGet(5_000_000_000L); // five seconds of loading: must not count
        assertThat(b.render("eval", 0, 1000, null, 120)).doesNotContain("tok/s").doesNotContain("ETA");
        assertThat(b.render("eval", 100, 1000, null, 120)).doesNotContain("tok/s").doesNotContain("ETA");
        now.addAndGet(1_000_000_000L);
        assertThat(b.render("eval", 200, 1000, null, 120)).contains("100 tok/s").contains("ETA 8s");
    }

    @Test
    void dropsTheMessageThenTheRateBeforeTheBarShrinksUnderTenColumns() {
        BarLine b = bar("MiB", 1 << 20);
        b.render("convert", 1 << 20, 300L << 20, null, 200);
        now.addAndGet(1_000_000_000L);
        String wide = b.render("convert", 3L << 20, 300L << 20, "a rather long message about the tensor", 200);
        assertThat(wide).contains("ETA").contains("MiB/s").contains("a rather long message");
        String narrow = b.render("convert", 3L << 20, 300L << 20, "a rather long message about the tensor", 50);
        assertThat(narrow).hasSizeLessThanOrEqualTo(50).contains("3/300 MiB").doesNotContain("message");
        assertThat(narrow.substring(narrow.indexOf('[') + 1, narrow.indexOf(']'))).hasSizeGreaterThanOrEqualTo(BarLine.MIN_BAR);
    }

    @Test
    void coarseUnitsShowADecimalAndAFinishedBarItsTime() {
        BarLine b = bar("MiB", 1 << 20);
        now.addAndGet(7_000_000_000L);
        assertThat(b.render("convert", 6574080, 6574080, null, 79)).contains("] 6.3/6.3 MiB in 7s").contains("100%");
    }
}
