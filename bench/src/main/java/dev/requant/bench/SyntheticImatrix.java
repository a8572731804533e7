package dev.requant.bench;

import java.io.IOException;
import java.nio.file.Path;

/**
 * The benchmarks' imatrix for the synthetic GGUF ({@link dev.requant.testmodels.SyntheticImatrix}), as if 100 chunks
 * of 512 tokens had run.
 *
 * <pre>SyntheticImatrix MODEL.gguf OUT.imatrix.gguf</pre>
 */
public final class SyntheticImatrix {
    private SyntheticImatrix() {}

    public static void main(String[] args) throws IOException {
        int n = dev.requant.testmodels.SyntheticImatrix.write(Path.of(args[0]), Path.of(args[1]), 100);
        System.err.printf("wrote %s: %d entries%n", args[1], n);
    }
}
