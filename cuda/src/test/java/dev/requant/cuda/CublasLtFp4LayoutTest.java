package dev.requant.cuda;

import static org.assertj.core.api.Assertions.assertThat;

import java.util.HashSet;
import java.util.Set;
import org.junit.jupiter.api.Test;

/** The 128×4 tiled scale layout, checked against the reshape/permute definition (no GPU needed). */
class CublasLtFp4LayoutTest {
    /** Position of (r, c) in x.reshape(R/128, 4, 32, C/4, 4).permute(0, 3, 2, 1, 4) flattened, computed by strides. */
    private static long permuted(int r, int c, int rows, int cols) {
        int cp = (cols + 3) / 4 * 4;
        int i0 = r / 128, i1 = (r % 128) / 32, i2 = r % 32, i3 = c / 4, i4 = c % 4;
        // permuted dims: (i0, i3, i2, i1, i4) with sizes (R/128, C/4, 32, 4, 4)
        long[] size = {0, cp / 4, 32, 4, 4};
        return (((((long) i0 * size[1] + i3) * size[2] + i2) * size[3] + i1) * size[4] + i4);
    }

    @Test
    void offsetsFollowThePermutationAndCoverThePaddedTileOnce() {
        for (int[] s : new int[][] {{128, 4}, {130, 6}, {1, 1}, {300, 64}, {37, 20}}) {
            int rows = s[0], cols = s[1];
            Set<Long> seen = new HashSet<>();
            for (int r = 0; r < rows; r++) {
                for (int c = 0; c < cols; c++) {
                    long o = CublasLtFp4.swizzledOffset(r, c, cols);
                    assertThat(o).isEqualTo(permuted(r, c, rows, cols));
                    assertThat(o).isLessThan(CublasLtFp4.swizzledBytes(rows, cols));
                    assertThat(seen.add(o)).isTrue();
                }
            }
        }
        byte[] lin = new byte[2 * 5];
        for (int i = 0; i < lin.length; i++) lin[i] = (byte) (i + 1);
        byte[] sw = CublasLtFp4.swizzle(lin, 2, 5);
        assertThat(sw).hasSize(128 * 8);
        assertThat(sw[0]).isEqualTo((byte) 1);
        assertThat(sw[16]).as("row 1 is 16 bytes on").isEqualTo((byte) 6);
        assertThat(sw[512]).as("column 4 starts the second 4-column tile").isEqualTo((byte) 5);
    }

    @Test
    void onlyBlackwellIsSupported() {
        assertThat(CublasLtFp4.supports(new CudaDevice.Info(0, "H100", 9, 0, 132, 80L << 30, 13000, 0))).isFalse();
        assertThat(CublasLtFp4.supports(new CudaDevice.Info(0, "B200", 10, 0, 148, 180L << 30, 13000, 0))).isTrue();
        assertThat(CublasLtFp4.supports(new CudaDevice.Info(0, "RTX 5090", 12, 0, 170, 32L << 30, 13000, 0))).isTrue();
    }
}
