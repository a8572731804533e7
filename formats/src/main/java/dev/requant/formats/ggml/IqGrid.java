package dev.requant.formats.ggml;

import java.io.IOException;
import java.io.InputStream;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.util.HashMap;
import java.util.Map;

/**
 * One of the lattice grids of ggml's IQ1/IQ2/IQ3 formats: the points a group of 8 (IQ1, IQ2) or 4 (IQ3) elements may
 * take, before signs and scales. The points are format constants, read from {@code iq-grids.txt} (ggml's kgrid_*
 * tables: one code per point, 2 or 3 bits of level per element); the value tables of ggml-common.h that the decoders
 * read are those points with each level replaced by its value, and are derived here.
 *
 * <p>The encoders look points up through a map from every group of levels to a grid index, and, for groups that are
 * not on the grid, a list of the nearest grid points; ggml builds both at initialisation (iq2xs_init_impl,
 * iq3xs_init_impl). {@link #search} builds them on first use, once per process, whichever thread asks first.
 */
final class IqGrid {
    /** iq2xxs_grid: 256 points of 8 elements, levels 0..2 with values 8, 25, 43; searched to the 2 nearest distances. */
    static final IqGrid IQ2_XXS = new IqGrid("kgrid_2bit_256", 8, new int[] {8, 25, 43, 0}, 2);
    /** iq2xs_grid: 512 points. */
    static final IqGrid IQ2_XS = new IqGrid("kgrid_2bit_512", 8, new int[] {8, 25, 43, 0}, 2);
    /** iq2s_grid: 1024 points, searched to the nearest distance only. */
    static final IqGrid IQ2_S = new IqGrid("kgrid_2bit_1024", 8, new int[] {8, 25, 43, 0}, 1);
    /** iq1s_grid (IQ1_S and IQ1_M): 2048 points with values -1, 0, 1; searched to the 3 nearest distances. */
    static final IqGrid IQ1 = new IqGrid("kgrid_1bit_2048", 8, new int[] {-1, 0, 1, 0}, 3);
    /** iq3xxs_grid: 256 points of 4 elements, levels 0..7. */
    static final IqGrid IQ3_XXS = new IqGrid("kgrid_256", 4, new int[] {4, 12, 20, 28, 36, 44, 52, 62}, 2);
    /** iq3s_grid: 512 points of 4 elements, value 2*level+1. */
    static final IqGrid IQ3_S = new IqGrid("kgrid_512", 4, new int[] {1, 3, 5, 7, 9, 11, 13, 15}, 3);

    /** Points in the grid. */
    final int size;
    /** Elements per point: 8 or 4. */
    final int dims;
    /** Bits of level per element in a code and in a map index: 2 or 3. */
    final int bits;
    /** levels[k * dims + i]: the level of element i of point k. */
    final byte[] levels;
    /** values[k * dims + i]: its value, the byte of ggml-common.h's table (int8 for IQ1, uint8 otherwise). */
    final float[] values;
    /** codes[k]: the levels of point k packed as in iq-grids.txt ({@code bits} per element, first lowest). */
    final char[] codes;
    private final int nearestDistances;
    private volatile Search search;

    private IqGrid(String table, int dims, int[] valueOfLevel, int nearestDistances) {
        short[] codes = Resource.TABLES.get(table);
        this.size = codes.length;
        this.dims = dims;
        this.bits = dims == 8 ? 2 : 3;
        this.nearestDistances = nearestDistances;
        this.levels = new byte[size * dims];
        this.values = new float[size * dims];
        this.codes = new char[size];
        int mask = (1 << bits) - 1;
        for (int k = 0; k < size; k++) {
            this.codes[k] = (char) codes[k];
            for (int i = 0; i < dims; i++) {
                int l = (codes[k] >> (bits * i)) & mask;
                levels[k * dims + i] = (byte) l;
                values[k * dims + i] = valueOfLevel[l];
            }
        }
    }

    /**
     * ksigns_iq2xs: the sign byte of 7 stored sign bits, the eighth bit making the number of minus signs even (the
     * IQ2_XXS, IQ2_XS and IQ3_XXS encoders flip one sign to get an even count so that 7 bits suffice).
     */
    static int signs7(int s7) {
        return s7 | (Integer.bitCount(s7) & 1) << 7;
    }

    /** The lookup tables of the encoders; built on first call. */
    Search search() {
        Search s = search;
        if (s == null) {
            synchronized (this) {
                s = search;
                if (s == null) search = s = new Search(this);
            }
        }
        return s;
    }

    /**
     * kmap and kneighbors of ggml's init: for a group of levels packed as a map index ({@code bits} per element,
     * first element lowest), {@code map[u] >= 0} is the grid point with exactly those levels; otherwise
     * {@code -map[u] - 1} is the offset in {@code neighbours} of a count followed by that many grid points: every
     * point whose squared distance to the group (in positions 2*level+1) is among the {@code nearestDistances}
     * smallest, by distance then index, as ggml's qsort of (distance, index) pairs orders them. Unlike ggml's list,
     * which holds grid indices, this one holds the points' codes (their own map index, {@link #codes}), so that a
     * search reads the levels from the list itself; {@code map[code]} is the index.
     *
     * <p>ggml fills the map for every index below 4^8 (4096 for 3 bits); the encoders only ever look up groups of
     * levels they can produce (at most level 2 for the 2-bit grids, any for the 3-bit ones), so only those get
     * neighbour lists here, which cuts the IQ1/IQ2 builds by the 6561/43692 the encoders can reach.
     */
    static final class Search {
        final int[] map;
        final char[] neighbours;

        private Search(IqGrid g) {
            int indexCount = g.dims == 8 ? 43692 : 4096; // ggml's kmap_size
            int maxLevel = g.dims == 8 ? 2 : 7;
            map = new int[indexCount];
            java.util.Arrays.fill(map, Integer.MIN_VALUE);
            for (int k = 0; k < g.size; k++) {
                int u = 0;
                for (int i = 0; i < g.dims; i++) u |= g.levels[k * g.dims + i] << (g.bits * i);
                map[u] = k;
            }
            int maxD2 = g.dims * 4 * maxLevel * maxLevel; // positions differ by at most 2 * maxLevel
            int[] d2 = new int[g.size];
            int[] histogram = new int[maxD2 + 1];
            byte[] pos = new byte[g.dims];
            char[] out = new char[1 << 16];
            int used = 0;
            int mask = (1 << g.bits) - 1;
            for (int u = 0; u < indexCount; u++) {
                if (map[u] >= 0) continue;
                boolean reachable = true;
                for (int i = 0; i < g.dims; i++) {
                    int l = (u >> (g.bits * i)) & mask;
                    if (l > maxLevel) reachable = false;
                    pos[i] = (byte) (2 * l + 1);
                }
                if (!reachable) continue;
                java.util.Arrays.fill(histogram, 0);
                for (int j = 0; j < g.size; j++) {
                    int d = 0;
                    for (int i = 0; i < g.dims; i++) {
                        int diff = 2 * g.levels[j * g.dims + i] + 1 - pos[i];
                        d += diff * diff;
                    }
                    d2[j] = d;
                    histogram[d]++;
                }
                int count = 0, distances = 0, limit = -1;
                for (int d = 0; d <= maxD2 && distances < g.nearestDistances; d++) {
                    if (histogram[d] == 0) continue;
                    count += histogram[d];
                    distances++;
                    limit = d;
                }
                if (used + 1 + count > out.length) out = java.util.Arrays.copyOf(out, Math.max(2 * out.length, used + 1 + count));
                map[u] = -(used + 1);
                out[used++] = (char) count;
                for (int d = 0; d <= limit; d++) {
                    if (histogram[d] == 0) continue;
                    for (int j = 0; j < g.size; j++) if (d2[j] == d) out[used++] = (char) g.codes[j];
                }
            }
            neighbours = java.util.Arrays.copyOf(out, used);
        }
    }

    /** The kgrid_* tables of iq-grids.txt by name. */
    private static final class Resource {
        static final Map<String, short[]> TABLES = read();

        private static Map<String, short[]> read() {
            String text;
            try (InputStream in = IqGrid.class.getResourceAsStream("iq-grids.txt")) {
                if (in == null) throw new IllegalStateException("resource iq-grids.txt is missing from the classpath");
                text = new String(in.readAllBytes(), StandardCharsets.US_ASCII);
            } catch (IOException e) {
                throw new UncheckedIOException("cannot read resource iq-grids.txt", e);
            }
            Map<String, short[]> tables = new HashMap<>();
            short[] values = null;
            int filled = 0;
            for (String line : (text + "\nend 0").split("\n")) {
                line = line.strip();
                if (line.isEmpty() || line.startsWith("#")) continue;
                String[] f = line.split(" +");
                if (Character.isLetter(line.charAt(0))) {
                    if (values != null && filled != values.length) {
                        throw new IllegalStateException("resource iq-grids.txt: a table has " + filled + " of its " + values.length + " values");
                    }
                    values = new short[Integer.parseInt(f[1])];
                    filled = 0;
                    tables.put(f[0], values);
                    continue;
                }
                for (String v : f) values[filled++] = (short) Integer.parseInt(v);
            }
            return tables;
        }
    }
}
