package dev.requant.formats.nvfp4;

import static org.assertj.core.api.Assertions.assertThat;

import dev.requant.formats.ggml.Float8;
import java.lang.foreign.MemorySegment;
import org.junit.jupiter.api.Test;

class BlockScaleCensusTest {
    @Test
    void shiftedIsExactlyTheScaledValueOrRefused() {
        for (int c = 0; c < 256; c++) {
            float v = Float8.e4m3ToFloat((byte) c);
            for (int k = -20; k <= 20; k++) {
                int s = BlockScaleCensus.shifted(c, k);
                if (Float.isNaN(v) || v < 0) {
                    assertThat(s).as("code %x", c).isEqualTo(-1);
                    continue;
                }
                float want = Math.scalb(v, -k);
                if (s >= 0) {
                    assertThat(Float8.e4m3ToFloat((byte) s)).as("code %x k %d", c, k).isEqualTo(want);
                } else {
                    // refused: the value is not representable (beyond 448, or bits below 2^-9)
                    boolean representable = false;
                    for (int d = 0; d < 0x7F; d++) if (Float8.e4m3ToFloat((byte) d) == want) representable = true;
                    assertThat(representable).as("code %x k %d refused although %s is an E4M3 value", c, k, want).isFalse();
                }
            }
        }
    }

    @Test
    void shiftRangeIsLimitedByTheSmallestAndLargestCodes() {
        // 448 (0x7E) and 2^-6 (0x08, smallest normal): down by 0 (0x08 would lose... no: 2^-7 is subnormal 4·2^-9, exact)
        MemorySegment s = MemorySegment.ofArray(new byte[] {0x7E, 0x08, 0x00, 0x3F});
        BlockScaleCensus c = BlockScaleCensus.of(s);
        // 0x08 = 2^-6 = 8·2^-9 shifts down 3 times exactly (4, 2, 1 ·2^-9); 0x3F = 1.875 = 15·2^-3 shifts down to 15·2^-9: 6 times
        assertThat(c.maxExactShiftDown()).isEqualTo(3);
        assertThat(c.maxExactShiftUp()).isZero(); // 448 cannot grow
        assertThat(c.valid()).isTrue();
        assertThat(c.zero()).isEqualTo(1);
        assertThat(c.atMax()).isEqualTo(1);
        assertThat(BlockScaleCensus.of(MemorySegment.ofArray(new byte[] {0x7F, (byte) 0xB8})).valid()).isFalse();
        assertThat(BlockScaleCensus.of(MemorySegment.ofArray(new byte[] {0x7F, (byte) 0xB8})).nan()).isEqualTo(1);
        assertThat(BlockScaleCensus.of(MemorySegment.ofArray(new byte[] {0x7F, (byte) 0xB8})).negative()).isEqualTo(1);
        // a subnormal with an odd mantissa cannot move down at all
        assertThat(BlockScaleCensus.of(MemorySegment.ofArray(new byte[] {0x03, 0x40})).maxExactShiftDown()).isZero();
    }
}
