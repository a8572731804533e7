package dev.requant.bench;

import dev.requant.formats.gguf.GgufFile;
import dev.requant.formats.gguf.GgufTensorInfo;
import dev.requant.formats.imatrix.Imatrix;
import dev.requant.formats.imatrix.ImatrixEntry;
import dev.requant.formats.imatrix.ImatrixFormat;
import dev.requant.formats.imatrix.ImatrixWriter;
import java.io.IOException;
import java.nio.file.Path;
import java.util.List;
import java.util.SplittableRandom;
import java.util.TreeMap;

/**
 * An imatrix for a model llama-imatrix never ran on (the synthetic benchmark GGUF): a GGUF imatrix with an entry for
 * every 2-D weight but token_embd (as llama-imatrix records them), sums of squares log-normally spread over the
 * columns, 100 chunks of 512 tokens. Deterministic.
 *
 * <pre>SyntheticImatrix MODEL.gguf OUT.imatrix.gguf</pre>
 */
public final class SyntheticImatrix {
    private SyntheticImatrix() {}

    public static void main(String[] args) throws IOException {
        TreeMap<String, ImatrixEntry> entries = new TreeMap<>();
        long tokens = 100L * 512;
        try (GgufFile f = GgufFile.open(Path.of(args[0]))) {
            SplittableRandom r = new SplittableRandom(42);
            for (GgufTensorInfo t : f.tensors()) {
                if (t.spec().nDims() < 2 || t.name().startsWith("token_embd") || t.name().contains("_norm")) continue;
                float[] sums = new float[(int) (t.spec().rowLength() * t.spec().dim(2))];
                for (int i = 0; i < sums.length; i++) sums[i] = (float) (Math.exp(1.5 * r.nextGaussian()) * 0.05 * tokens);
                long[] counts = new long[(int) t.spec().dim(2)];
                java.util.Arrays.fill(counts, tokens);
                entries.put(t.name(), new ImatrixEntry(t.name(), sums, counts));
            }
        }
        ImatrixWriter.write(Path.of(args[1]), Imatrix.raw(entries, List.of("synthetic"), 100, 512), ImatrixFormat.GGUF);
        System.err.printf("wrote %s: %d entries%n", args[1], entries.size());
    }
}
