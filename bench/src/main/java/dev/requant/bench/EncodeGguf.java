package dev.requant.bench;

import dev.requant.formats.ggml.GgmlType;
import dev.requant.formats.ggml.RowSource;
import dev.requant.formats.ggml.TensorEncoder;
import dev.requant.formats.gguf.GgufFile;
import dev.requant.formats.gguf.GgufKeys;
import dev.requant.formats.gguf.GgufMetadata;
import dev.requant.formats.gguf.GgufTensorInfo;
import dev.requant.formats.gguf.GgufTensorSpec;
import dev.requant.formats.gguf.GgufValue;
import dev.requant.formats.gguf.GgufWriter;
import java.io.IOException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;

/**
 * The work of {@code llama-quantize --pure IN OUT TYPE THREADS} for the encode benchmark: reads a GGUF, encodes every
 * tensor of two or more dimensions whose rows are whole blocks into TYPE (no imatrix), copies the others, writes a
 * valid GGUF. Not the quantize command (that one has llama-quantize's type policy); this is the codec pipeline alone.
 */
public final class EncodeGguf {
    private EncodeGguf() {}

    /** llama_ftype of the "mostly TYPE" files this writes (include/llama.h). */
    private static final Map<GgmlType, Integer> FTYPE = Map.of(GgmlType.Q4_0, 2, GgmlType.Q4_1, 3, GgmlType.Q8_0, 7,
            GgmlType.Q5_0, 8, GgmlType.Q5_1, 9, GgmlType.Q4_K, 15, GgmlType.Q5_K, 17, GgmlType.Q6_K, 18,
            GgmlType.MXFP4, 38, GgmlType.F16, 1);

    public static void main(String[] args) throws IOException {
        if (args.length < 3) {
            System.err.println("usage: EncodeGguf IN.gguf OUT.gguf TYPE [THREADS]");
            System.exit(2);
        }
        GgmlType type = GgmlType.byName(args[2]).orElseThrow(() -> new IllegalArgumentException("unknown type " + args[2]));
        int threads = args.length > 3 ? Integer.parseInt(args[3]) : Runtime.getRuntime().availableProcessors();
        long t0 = System.nanoTime();
        long[] sizes = run(Path.of(args[0]), Path.of(args[1]), type, threads);
        double s = (System.nanoTime() - t0) / 1e9;
        System.err.printf("encoded %d tensors (%.2f GB in, %.2f GB out) to %s with %d threads in %.3f s%n",
                sizes[0], sizes[1] / 1e9, sizes[2] / 1e9, type.ggmlName(), threads, s);
    }

    /** CPU seconds per thread name (Linux /proc), to see what the JIT, the GC and the workers cost. */
    private static void printThreadCpu() throws IOException {
        java.util.Map<String, Double> byName = new java.util.TreeMap<>();
        try (var tasks = java.nio.file.Files.list(Path.of("/proc/self/task"))) {
            for (Path t : tasks.toList()) {
                String stat = java.nio.file.Files.readString(t.resolve("stat"));
                String name = stat.substring(stat.indexOf('(') + 1, stat.lastIndexOf(')')).replaceAll("[0-9]+", "#");
                String[] f = stat.substring(stat.lastIndexOf(')') + 2).split(" ");
                byName.merge(name, (Long.parseLong(f[11]) + Long.parseLong(f[12])) / 100.0, Double::sum);
            }
        }
        byName.forEach((k, v) -> { if (v > 0.01) System.err.printf("  cpu %-24s %6.2f s%n", k, v); });
    }

    /** Returns {tensors encoded, input bytes, output file bytes}. */
    public static long[] run(Path in, Path out, GgmlType type, int threads) throws IOException {
        try (GgufFile src = GgufFile.open(in); TensorEncoder encoder = new TensorEncoder(threads)) {
            List<GgufTensorSpec> specs = new ArrayList<>();
            for (GgufTensorInfo t : src.tensors()) specs.add(encodes(t.spec(), type) ? t.spec().withType(type) : t.spec());
            GgufMetadata meta = new GgufMetadata(src.metadata());
            if (FTYPE.containsKey(type)) meta.put(GgufKeys.General.FILE_TYPE, GgufValue.u32(FTYPE.get(type)));
            meta.put(GgufKeys.General.QUANTIZATION_VERSION, GgufValue.u32(2));
            long encoded = 0;
            boolean verbose = Boolean.getBoolean("requant.bench.verbose");
            long start = System.nanoTime();
            try (GgufWriter w = GgufWriter.create(out, meta, specs)) {
                for (GgufTensorInfo t : src.tensors()) {
                    long t0 = System.nanoTime();
                    if (encodes(t.spec(), type)) {
                        RowSource rows = RowSource.of(src.tensorData(t), t.type(), (int) t.spec().rowLength(), t.spec().rows());
                        encoder.encode(rows, type, null, w.beginTensor(t.name()));
                        encoded++;
                    } else {
                        w.writeTensor(t.name(), src.tensorData(t));
                    }
                    if (verbose) {
                        System.err.printf("%8.3f s %-28s %6.1f ms%n", (System.nanoTime() - start) / 1e9, t.name(), (System.nanoTime() - t0) / 1e6);
                    }
                }
                long c0 = System.nanoTime();
                w.commit();
                if (verbose) {
                    System.err.printf("commit (fsync, rename) %.1f ms%n", (System.nanoTime() - c0) / 1e6);
                    printThreadCpu();
                }
            }
            return new long[] {encoded, src.fileSize(), java.nio.file.Files.size(out)};
        }
    }

    static boolean encodes(GgufTensorSpec t, GgmlType type) {
        return t.nDims() >= 2 && t.type().isFloat() && t.type() != GgmlType.F64 && t.rowLength() % type.blockSize() == 0;
    }
}
