package dev.requant.runtime.fp4;

import dev.requant.formats.ggml.BlockCodec;
import dev.requant.formats.ggml.GgmlType;
import java.lang.foreign.MemorySegment;
import java.util.SplittableRandom;

/** Random GGML NVFP4 weights and activations for the W4A4 tests (CPU and GPU). */
final class Fp4TestData {
    private Fp4TestData() {}

    /** Gaussian activations with occasional large values, zero blocks and exact ties. */
    static float[] activations(long seed, int rows, int cols) {
        SplittableRandom r = new SplittableRandom(seed);
        float[] x = new float[rows * cols];
        for (int i = 0; i < x.length; i++) {
            double g = r.nextGaussian() * (1 + 20 * (r.nextInt(50) == 0 ? 1 : 0));
            if ((i / 16) % 23 == 4) g = 0;
            if ((i / 16) % 29 == 6) g = new double[] {0.25, -0.75, 1.25, 2.5, 3.5, 5, -6, 0}[i % 8];
            x[i] = (float) g;
        }
        return x;
    }

    /** NVFP4 weight rows (GGML layout) from quantize_row_nvfp4_ref of Gaussian values. */
    static MemorySegment weight(long seed, int rows, int cols) {
        SplittableRandom r = new SplittableRandom(seed);
        float[] w = new float[rows * cols];
        for (int i = 0; i < w.length; i++) w[i] = (float) (r.nextGaussian() * 0.05 * (1 + (i / cols) % 7));
        MemorySegment out = MemorySegment.ofArray(new byte[(int) GgmlType.NVFP4.rowBytes(cols) * rows]);
        BlockCodec c = BlockCodec.reference(GgmlType.NVFP4);
        for (int o = 0; o < rows; o++) c.encodeRow(w, o * cols, cols, null, out, o * GgmlType.NVFP4.rowBytes(cols));
        return out;
    }
}
