package dev.requant.bench;

import dev.requant.converter.quantize.ImatrixInput;
import dev.requant.converter.quantize.search.ExhaustiveCodecs;
import dev.requant.converter.quantize.search.SearchObjective;
import dev.requant.formats.ggml.BlockCodec;
import dev.requant.formats.ggml.GgmlType;
import dev.requant.formats.ggml.RowSource;
import dev.requant.formats.gguf.GgufFile;
import dev.requant.formats.gguf.GgufTensorInfo;
import dev.requant.formats.imatrix.ImatrixFilter;
import java.io.IOException;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

/**
 * {@code --search exhaustive} against llama.cpp's encoders, per type: every 2-D weight of a GGUF (norms and 1-D tensors
 * left out, as llama-quantize leaves them), every row encoded both ways, the error each encoder is judged by
 * ({@link SearchObjective}) summed over all blocks and reported as a weighted RMSE {@code sqrt(sum w e^2 / sum w)},
 * plus the share of blocks the search improved and the single-thread encode time of each.
 *
 * <pre>SearchReport MODEL.gguf [IMATRIX|-] [MAX_ROWS_PER_TENSOR] [TYPE...]</pre>
 */
public final class SearchReport {
    private SearchReport() {}

    public static void main(String[] args) throws IOException {
        Path model = Path.of(args[0]);
        float[][] none = null;
        ImatrixInput im = args.length > 1 && !args[1].equals("-") ? ImatrixInput.load(Path.of(args[1]), ImatrixFilter.ALL) : null;
        long maxRows = args.length > 2 ? Long.parseLong(args[2]) : Long.MAX_VALUE;
        List<GgmlType> types = new ArrayList<>();
        for (int i = 3; i < args.length; i++) types.add(GgmlType.byName(args[i]).orElseThrow());
        if (types.isEmpty()) types.addAll(List.of(GgmlType.Q4_0, GgmlType.Q4_1, GgmlType.Q5_0, GgmlType.Q5_1, GgmlType.Q8_0,
                GgmlType.MXFP4, GgmlType.Q4_K, GgmlType.Q5_K, GgmlType.Q6_K));
        System.out.printf("%s, imatrix %s, at most %s rows per tensor%n", model, im == null ? "none" : args[1],
                maxRows == Long.MAX_VALUE ? "all" : maxRows);
        System.out.println("| type | imatrix | blocks | improved | weighted RMSE llama.cpp | weighted RMSE exhaustive | change | encode s llama.cpp | encode s exhaustive |");
        System.out.println("|---|---|---:|---:|---:|---:|---:|---:|---:|");
        try (GgufFile f = GgufFile.open(model)) {
            for (GgmlType type : types) report(f, type, im, maxRows);
        }
    }

    static void report(GgufFile f, GgmlType type, ImatrixInput im, long maxRows) {
        BlockCodec llama = BlockCodec.of(type), search = ExhaustiveCodecs.searching(type);
        double el = 0, es = 0, sw = 0;
        long blocks = 0, improved = 0, tl = 0, ts = 0;
        int be = type.blockSize();
        try (Arena arena = Arena.ofConfined()) {
            for (GgufTensorInfo t : f.tensors()) {
                if (t.spec().withTrailingOnesDropped().nDims() < 2 || t.name().contains("_norm") || !t.name().endsWith("weight")) continue;
                int n = (int) t.spec().rowLength();
                if (n % be != 0) continue;
                long rows = Math.min(t.spec().rows(), maxRows);
                float[] importance = im == null ? null : im.importance().forWeight(t.name()).filter(v -> v.length == n).orElse(null);
                RowSource src = RowSource.of(f.tensorData(t), t.type(), n, t.spec().rows());
                float[] x = new float[n], w = new float[n], a = new float[n], b = new float[n];
                MemorySegment ml = arena.allocate(type.rowBytes(n)), ms = arena.allocate(type.rowBytes(n));
                for (long r = 0; r < rows; r++) {
                    src.read(r, 1, x);
                    long t0 = System.nanoTime();
                    llama.encodeRow(x, 0, n, llama.usesImportance() ? importance : null, ml, 0);
                    long t1 = System.nanoTime();
                    search.encodeRow(x, 0, n, importance, ms, 0);
                    long t2 = System.nanoTime();
                    tl += t1 - t0;
                    ts += t2 - t1;
                    llama.decode(ml, 0, a, 0, n);
                    llama.decode(ms, 0, b, 0, n);
                    SearchObjective.weights(type, x, 0, n, importance, w);
                    for (int o = 0; o < n; o += be) {
                        double bl = SearchObjective.error(x, o, a, o, w, o, be), bs = SearchObjective.error(x, o, b, o, w, o, be);
                        if (bs > bl) throw new IllegalStateException(t.name() + " row " + r + ": search worse than llama.cpp");
                        if (bs < bl) improved++;
                        blocks++;
                        el += bl;
                        es += bs;
                    }
                    for (int j = 0; j < n; j++) sw += w[j];
                }
            }
        }
        double rl = Math.sqrt(el / sw), rs = Math.sqrt(es / sw);
        System.out.printf("| %s | %s | %d | %.1f%% | %.6g | %.6g | %+.2f%% | %.2f | %.2f |%n", type.ggmlName(), im == null ? "no" : "yes",
                blocks, 100.0 * improved / blocks, rl, rs, 100 * (rs / rl - 1), tl / 1e9, ts / 1e9);
    }
}
