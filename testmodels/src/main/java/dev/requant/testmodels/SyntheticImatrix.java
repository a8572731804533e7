package dev.requant.testmodels;

import dev.requant.formats.gguf.GgufFile;
import dev.requant.formats.gguf.GgufTensorInfo;
import dev.requant.formats.imatrix.Imatrix;
import dev.requant.formats.imatrix.ImatrixEntry;
import dev.requant.formats.imatrix.ImatrixFormat;
import dev.requant.formats.imatrix.ImatrixWriter;
import java.io.IOException;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.List;
import java.util.SplittableRandom;
import java.util.TreeMap;

/**
 * An imatrix for a model llama-imatrix never ran on (a synthetic GGUF): an entry for every 2-D weight but token_embd
 * and the norms (as llama-imatrix records them), sums of squares log-normally spread over the columns, as if
 * {@code chunks} chunks of 512 tokens had run. Deterministic. The benchmarks' imatrix and the launcher's AOT training
 * both use it.
 */
public final class SyntheticImatrix {
    private SyntheticImatrix() {}

    /** Writes the imatrix of {@code model} to {@code out} (GGUF); returns its number of entries. */
    public static int write(Path model, Path out, int chunks) throws IOException {
        TreeMap<String, ImatrixEntry> entries = new TreeMap<>();
        long tokens = chunks * 512L;
        try (GgufFile f = GgufFile.open(model)) {
            SplittableRandom r = new SplittableRandom(42);
            for (GgufTensorInfo t : f.tensors()) {
                if (t.spec().nDims() < 2 || t.name().startsWith("token_embd") || t.name().contains("_norm")) continue;
                float[] sums = new float[(int) (t.spec().rowLength() * t.spec().dim(2))];
                for (int i = 0; i < sums.length; i++) sums[i] = (float) (Math.exp(1.5 * r.nextGaussian()) * 0.05 * tokens);
                long[] counts = new long[(int) t.spec().dim(2)];
                Arrays.fill(counts, tokens);
                entries.put(t.name(), new ImatrixEntry(t.name(), sums, counts));
            }
        }
        ImatrixWriter.write(out, Imatrix.raw(entries, List.of("synthetic"), chunks, 512), ImatrixFormat.GGUF);
        return entries.size();
    }
}
