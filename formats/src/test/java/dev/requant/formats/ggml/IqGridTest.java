package dev.requant.formats.ggml;

import static org.assertj.core.api.Assertions.assertThat;

import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.security.MessageDigest;
import java.util.ArrayList;
import java.util.HexFormat;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;

/**
 * The IQ grids are ggml's: the tables rebuilt from iq-grids.txt hash like ggml-common.h's (SHA-256 of each table as
 * little-endian C arrays, taken from the pinned llama.cpp source), the codecs' {@link IqGrid} holds the same values,
 * and its search tables are those of iq2xs_init_impl / iq3xs_init_impl, rebuilt here by ggml's own method (sort every
 * grid point by squared distance, then index, and keep the nearest distances).
 */
class IqGridTest {
    static final Map<String, String> GGML_COMMON_SHA256 = Map.of(
            "iq2xxs_grid", "05826b5d3e472a3a78f196be62ac78acf81df0f909626e12ab9fa2a5d490dd54",
            "iq2xs_grid", "06e47aaca60b4dc1d9b5a3f34540437058a6b142b4d7a59d5ded769b4d1bf1de",
            "iq2s_grid", "e1aa1473412b0552c2174c30ef22ab4073f6a181b85a17056e8249bd2932fd88",
            "iq1s_grid", "07540ffc1aeaf6ad4d97e96b0fcc765aae39671d4ae4a27bbd0e796fde167c6a",
            "iq3xxs_grid", "46e35f5a997efdee6c99ce57854c8a0d4f0ff8ca57e5e8a60c0793ea580acf5d",
            "iq3s_grid", "bd1af4945a1717c65610b0284e4628b9a1ba3b306fae3a06f6e5f597356e349f",
            "ksigns_iq2xs", "a76742a603f8beca5212ecce0f1f02f11a4887fd2f7c8b15aca0ea3eb3380c31");

    static String sha256(ByteBuffer b) throws Exception {
        return HexFormat.of().formatHex(MessageDigest.getInstance("SHA-256").digest(b.array()));
    }

    static String sha256(long[] t) throws Exception {
        ByteBuffer b = ByteBuffer.allocate(8 * t.length).order(ByteOrder.LITTLE_ENDIAN);
        for (long v : t) b.putLong(v);
        return sha256(b);
    }

    static String sha256(int[] t, int width) throws Exception {
        ByteBuffer b = ByteBuffer.allocate(width * t.length).order(ByteOrder.LITTLE_ENDIAN);
        for (int v : t) {
            if (width == 4) b.putInt(v);
            else b.put((byte) v);
        }
        return sha256(b);
    }

    @Test
    void gridsAreGgmlCommonsTables() throws Exception {
        assertThat(sha256(PlainIqDecoders.IQ2XXS_GRID)).isEqualTo(GGML_COMMON_SHA256.get("iq2xxs_grid"));
        assertThat(sha256(PlainIqDecoders.IQ2XS_GRID)).isEqualTo(GGML_COMMON_SHA256.get("iq2xs_grid"));
        assertThat(sha256(PlainIqDecoders.IQ2S_GRID)).isEqualTo(GGML_COMMON_SHA256.get("iq2s_grid"));
        assertThat(sha256(PlainIqDecoders.IQ1S_GRID)).isEqualTo(GGML_COMMON_SHA256.get("iq1s_grid"));
        assertThat(sha256(PlainIqDecoders.IQ3XXS_GRID, 4)).isEqualTo(GGML_COMMON_SHA256.get("iq3xxs_grid"));
        assertThat(sha256(PlainIqDecoders.IQ3S_GRID, 4)).isEqualTo(GGML_COMMON_SHA256.get("iq3s_grid"));
        assertThat(sha256(PlainIqDecoders.KSIGNS, 1)).isEqualTo(GGML_COMMON_SHA256.get("ksigns_iq2xs"));
        // spot values as ggml-common.h prints them
        assertThat(PlainIqDecoders.IQ2XXS_GRID[1]).isEqualTo(0x080808080808082bL);
        assertThat(PlainIqDecoders.IQ1S_GRID[0]).isEqualTo(0xffffffffffffffffL);
        assertThat(PlainIqDecoders.IQ3XXS_GRID[255]).isEqualTo(0x3e341c04);
    }

    @Test
    void codecGridsHoldTheSameValues() {
        assertSameValues(IqGrid.IQ2_XXS, PlainIqDecoders.IQ2XXS_GRID, false);
        assertSameValues(IqGrid.IQ2_XS, PlainIqDecoders.IQ2XS_GRID, false);
        assertSameValues(IqGrid.IQ2_S, PlainIqDecoders.IQ2S_GRID, false);
        assertSameValues(IqGrid.IQ1, PlainIqDecoders.IQ1S_GRID, true);
        for (int k = 0; k < 256; k++) {
            for (int j = 0; j < 4; j++) assertThat(IqGrid.IQ3_XXS.values[4 * k + j]).isEqualTo(PlainIqDecoders.gridByte(PlainIqDecoders.IQ3XXS_GRID, k, j));
        }
        for (int k = 0; k < 512; k++) {
            for (int j = 0; j < 4; j++) assertThat(IqGrid.IQ3_S.values[4 * k + j]).isEqualTo(PlainIqDecoders.gridByte(PlainIqDecoders.IQ3S_GRID, k, j));
        }
        for (int i = 0; i < 128; i++) assertThat(IqGrid.signs7(i)).isEqualTo(PlainIqDecoders.KSIGNS[i]);
    }

    static void assertSameValues(IqGrid g, long[] table, boolean signed) {
        assertThat(g.size).isEqualTo(table.length);
        for (int k = 0; k < table.length; k++) {
            for (int j = 0; j < 8; j++) {
                int b = PlainIqDecoders.gridByte(table, k, j);
                assertThat(g.values[8 * k + j]).isEqualTo(signed ? (byte) b : b);
            }
        }
    }

    @Test
    void searchTablesAreGgmlsForEveryReachableGroup() {
        check(IqGrid.IQ2_XXS, 2, 1);
        check(IqGrid.IQ2_XS, 2, 1);
        check(IqGrid.IQ2_S, 1, 1);
        check(IqGrid.IQ1, 3, 1);
        check(IqGrid.IQ3_XXS, 2, 1);
        check(IqGrid.IQ3_S, 3, 1);
    }

    /** ggml's construction for each map index: qsort (distance, index) pairs, keep the first {@code nwant} distances. */
    static void check(IqGrid g, int nwant, int stride) {
        IqGrid.Search s = g.search();
        int bits = g.bits, maxLevel = g.dims == 8 ? 2 : 7, checked = 0;
        for (int u = 0; u < (g.dims == 8 ? 43692 : 4096); u++) {
            int[] pos = new int[g.dims];
            boolean reachable = true;
            for (int i = 0; i < g.dims; i++) {
                int l = (u >> (bits * i)) & ((1 << bits) - 1);
                reachable &= l <= maxLevel;
                pos[i] = 2 * l + 1;
            }
            if (!reachable) continue;
            int onGrid = -1;
            long[] pairs = new long[g.size]; // (distance, index) packed so that a numeric sort is ggml's qsort order
            for (int j = 0; j < g.size; j++) {
                int d2 = 0;
                for (int i = 0; i < g.dims; i++) {
                    int diff = 2 * g.levels[j * g.dims + i] + 1 - pos[i];
                    d2 += diff * diff;
                }
                if (d2 == 0) onGrid = j;
                pairs[j] = (long) d2 << 32 | j;
            }
            if (onGrid >= 0) {
                assertThat(s.map[u]).isEqualTo(onGrid);
                continue;
            }
            if (u % stride != 0) continue;
            java.util.Arrays.sort(pairs);
            List<Integer> want = new ArrayList<>();
            long d2 = pairs[0] >> 32;
            int nhave = 1;
            for (long p : pairs) {
                if (p >> 32 > d2) {
                    if (nhave == nwant) break;
                    d2 = p >> 32;
                    nhave++;
                }
                want.add((int) p);
            }
            assertThat(s.map[u]).isNegative();
            int off = -s.map[u] - 1;
            List<Integer> got = new ArrayList<>();
            for (int j = 1; j <= s.neighbours[off]; j++) got.add(s.map[s.neighbours[off + j]]); // the list holds codes
            assertThat(got).as("neighbours of %d", u).isEqualTo(want);
            checked++;
        }
        assertThat(checked).isPositive();
    }
}
