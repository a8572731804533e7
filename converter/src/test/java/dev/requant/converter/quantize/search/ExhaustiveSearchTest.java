package dev.requant.converter.quantize.search;

import static org.assertj.core.api.Assertions.assertThat;

import dev.requant.formats.ggml.BlockCodec;
import dev.requant.formats.ggml.GgmlType;
import dev.requant.formats.ggml.RowSource;
import dev.requant.formats.ggml.TensorEncoder;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.util.ArrayList;
import java.util.List;
import java.util.SplittableRandom;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;

/**
 * The exhaustive encoders never do worse than llama.cpp's on any block (under the error llama.cpp's encoder minimises),
 * do better in total, write blocks the type's decoder reads back as the values they were judged on, and give the
 * same bytes on any number of threads.
 */
class ExhaustiveSearchTest {
    /** Rows of assorted shapes: Gaussian, heavy outliers, a zero block, tiny and large magnitudes, one-sided values. */
    static float[] rows(int n, int rows, long seed) {
        SplittableRandom r = new SplittableRandom(seed);
        float[] x = new float[n * rows];
        for (int i = 0; i < rows; i++) {
            double scale = Math.exp(r.nextGaussian() * 2) * 0.02;
            for (int j = 0; j < n; j++) {
                double v = r.nextGaussian() * scale;
                if (r.nextInt(200) == 0) v *= 8;
                if (i % 7 == 3) v = Math.abs(v) + scale;        // all positive (offset types)
                if (i % 11 == 5 && j < 64) v = 0;               // zero blocks
                if (i % 13 == 1) v *= 1e-4;                     // tiny
                x[i * n + j] = (float) v;
            }
        }
        return x;
    }

    static float[] importance(int n, long seed) {
        SplittableRandom r = new SplittableRandom(seed);
        float[] w = new float[n];
        for (int j = 0; j < n; j++) w[j] = (float) Math.exp(2 * r.nextGaussian()) * 0.01f;
        return w;
    }

    record Totals(double llama, double searched, int improved, int blocks) {}

    static Totals compare(GgmlType type, float[] x, int n, float[] importance) {
        BlockCodec llama = BlockCodec.of(type), search = ExhaustiveCodecs.searching(type);
        int rows = x.length / n, be = type.blockSize();
        long rowBytes = type.rowBytes(n);
        float[] w = new float[n], a = new float[n], b = new float[n];
        double tl = 0, ts = 0;
        int improved = 0, blocks = 0;
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment ml = arena.allocate(rowBytes), ms = arena.allocate(rowBytes);
            for (int r = 0; r < rows; r++) {
                llama.encodeRow(x, r * n, n, llama.usesImportance() ? importance : null, ml, 0);
                search.encodeRow(x, r * n, n, importance, ms, 0);
                llama.decode(ml, 0, a, 0, n);
                BlockCodec.reference(type).decode(ms, 0, b, 0, n);
                SearchObjective.weights(type, x, r * n, n, importance, w);
                for (int o = 0; o < n; o += be) {
                    double el = SearchObjective.error(x, r * n + o, a, o, w, o, be);
                    double es = SearchObjective.error(x, r * n + o, b, o, w, o, be);
                    assertThat(es).as("%s row %d block %d", type, r, o / be).isLessThanOrEqualTo(el);
                    if (es < el) improved++;
                    blocks++;
                    tl += el;
                    ts += es;
                }
            }
        }
        return new Totals(tl, ts, improved, blocks);
    }

    @ParameterizedTest
    @EnumSource(value = GgmlType.class, names = {"Q4_0", "Q5_0", "Q8_0", "Q4_1", "Q5_1", "MXFP4", "Q4_K", "Q5_K", "Q6_K"})
    void neverWorseThanLlamaCppPerBlockAndBetterInTotal(GgmlType type) {
        int n = 512;
        for (boolean withImatrix : new boolean[] {false, true}) {
            float[] x = rows(n, 40, type.ordinal());
            Totals t = compare(type, x, n, withImatrix ? importance(n, 99) : null);
            assertThat(t.searched()).as("%s imatrix=%s total error", type, withImatrix).isLessThan(t.llama());
            assertThat(t.improved()).as("%s improved blocks", type).isPositive();
        }
    }

    @ParameterizedTest
    @EnumSource(value = GgmlType.class, names = {"Q4_0", "Q4_1", "Q8_0", "MXFP4", "Q4_K", "Q6_K"})
    void outputDoesNotDependOnThreads(GgmlType type) throws IOException {
        int n = 256;
        float[] x = rows(n, 64, 5);
        float[] im = importance(n, 6);
        List<byte[]> outs = new ArrayList<>();
        for (int threads : new int[] {1, 3}) {
            ByteArrayOutputStream bytes = new ByteArrayOutputStream();
            try (TensorEncoder enc = new TensorEncoder(threads)) {
                enc.encode(RowSource.ofFloats(x, n), ExhaustiveCodecs.searching(type), im, chunk -> {
                    byte[] b = new byte[chunk.remaining()];
                    chunk.get(b);
                    bytes.write(b);
                }, TensorEncoder.Progress.NONE);
            }
            outs.add(bytes.toByteArray());
        }
        assertThat(outs.get(1)).isEqualTo(outs.get(0));
    }
}
