package dev.requant.converter.quantize;

import static org.assertj.core.api.Assertions.assertThat;

import dev.requant.formats.ggml.BlockCodec;
import dev.requant.formats.ggml.GgmlType;
import dev.requant.formats.io.LittleEndian;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.util.SplittableRandom;
import org.junit.jupiter.api.Test;

/** ggml_validate_row_data's IQ1_M case: the fp16 scale spread over the top nibbles of the four scale words. */
class RowDataCheckIq1MTest {
    @Test
    void aNonFiniteSpreadScaleIsFoundAndEncodedBlocksPass() {
        float[] x = new float[512];
        SplittableRandom r = new SplittableRandom(5);
        for (int i = 0; i < x.length; i++) x[i] = (float) r.nextGaussian();
        try (Arena a = Arena.ofConfined()) {
            MemorySegment q = a.allocate(2 * 56);
            BlockCodec.of(GgmlType.IQ1_M).encodeRow(x, 0, 512, null, q, 0);
            assertThat(RowDataCheck.firstInvalid(GgmlType.IQ1_M, q, 0, 112)).isEqualTo(-1);
            // block 1: scale nibbles 0x0, 0x0, 0xC, 0x7 from the first word to the last: fp16 0x7C00, infinity
            for (int k = 0; k < 4; k++) {
                long at = 56 + 48 + 2 * k;
                int top = new int[] {0x0, 0x0, 0xC, 0x7}[k];
                q.set(LittleEndian.SHORT, at, (short) ((q.get(LittleEndian.SHORT, at) & 0x0FFF) | top << 12));
            }
            assertThat(RowDataCheck.firstInvalid(GgmlType.IQ1_M, q, 0, 112)).isEqualTo(1);
        }
    }
}
