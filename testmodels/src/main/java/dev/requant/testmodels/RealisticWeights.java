package dev.requant.testmodels;

/**
 * Weights shaped like a trained transformer's, for quantization tests: the decoder layers' projection matrices
 * ({@code layers.N...._proj.weight}) are Gaussian with a per-row and a
 * per-column spread (log-normal, so rows and input channels differ by one to two orders of magnitude), a heavy tail
 * of outliers, and optionally near-silent blocks; embeddings, norms and scalars as {@link WeightGenerator#hashed}. NVFP4 block
 * scales of such a matrix spread over several binades below 448 (the block holding the tensor's largest value); with
 * silent blocks they reach E4M3's subnormal codes. Deterministic per (seed, tensor, element).
 */
public final class RealisticWeights implements WeightGenerator {
    private final long seed;
    private final WeightGenerator small;
    private final float sigma;
    private final boolean silentBlocks;

    private RealisticWeights(long seed, float sigma, boolean silentBlocks) {
        this.seed = seed;
        this.small = WeightGenerator.hashed(seed);
        this.sigma = sigma;
        this.silentBlocks = silentBlocks;
    }

    /** Matrices with standard deviation around {@code 0.02} (before the row and column spreads). */
    public static RealisticWeights of(long seed) {
        return new RealisticWeights(seed, 0.02f, false);
    }

    /** The same with one block in a thousand scaled by 1e-3 (dead channels): subnormal NVFP4 block scales. */
    public RealisticWeights withSilentBlocks() {
        return new RealisticWeights(seed, sigma, true);
    }

    @Override
    public void fill(SyntheticTensor t, long first, float[] dst, int n) {
        long[] shape = t.shape();
        if (shape.length < 2 || !t.name().endsWith("_proj.weight") || !t.name().contains("layers.")) {
            small.fill(t, first, dst, n);
            return;
        }
        long cols = shape[shape.length - 1];
        long h = seed * 0x9E3779B97F4A7C15L + t.name().hashCode() * 0xC2B2AE3D27D4EB4FL;
        for (int i = 0; i < n; i++) {
            long e = first + i;
            long row = e / cols, col = e % cols;
            double rowScale = Math.exp(0.6 * gauss(h, 1_000_003L * row + 17));
            double colScale = Math.exp(0.8 * gauss(h ^ 0x5DEECE66DL, col + 31));
            double g = gauss(h, 2 * e + 1);
            double u = unit(h, 2 * e + 2);
            if (u < 0.002) g *= 8;                        // outliers
            if (silentBlocks && ((e / 16) * 2654435761L & 1023) == 7) g *= 1e-3; // near-silent blocks
            dst[i] = (float) (sigma * rowScale * colScale * g);
        }
    }

    private static double unit(long base, long idx) {
        long z = base + idx * 0x9E3779B97F4A7C15L;
        z = (z ^ (z >>> 30)) * 0xBF58476D1CE4E5B9L;
        z = (z ^ (z >>> 27)) * 0x94D049BB133111EBL;
        z ^= z >>> 31;
        return ((z >>> 11) + 0.5) * 0x1.0p-53;
    }

    /** A standard normal value from two counter-based uniforms (Box-Muller). */
    private static double gauss(long base, long idx) {
        double u1 = unit(base, 2 * idx), u2 = unit(base, 2 * idx + 1);
        return Math.sqrt(-2 * Math.log(u1)) * Math.cos(2 * Math.PI * u2);
    }
}
