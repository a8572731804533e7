package dev.requant.formats.ggml;

/**
 * The inputs of the ggml cross-check (bench/ggml-crosscheck/corpus.h), bit for bit: rows of floats of 12 kinds
 * (uniform, small, heavy-tailed, small integers with ties, zeros, sparse, subnormals, tiny normals, huge, with Inf,
 * with NaN, arbitrary finite bit patterns) and an importance vector with zeros, all from splitmix64.
 */
final class CrosscheckCorpus {
    static final int KINDS = 12;
    private long state;

    CrosscheckCorpus(long seed) { state = seed; }

    long next() {
        long z = (state += 0x9E3779B97F4A7C15L);
        z = (z ^ (z >>> 30)) * 0xBF58476D1CE4E5B9L;
        z = (z ^ (z >>> 27)) * 0x94D049BB133111EBL;
        return z ^ (z >>> 31);
    }

    float uniform() { return (float) ((int) (next() >>> 40) - (1 << 23)) * 0x1p-23f; }

    void row(int kind, float[] x, int off, int n) {
        for (int i = 0; i < n; i++) {
            float v;
            switch (kind) {
                case 0 -> v = uniform();
                case 1 -> v = uniform() * 0.001f;
                case 2 -> {
                    float u = uniform();
                    v = u * u * u * 4.0f;
                }
                case 3 -> v = (float) ((int) Long.remainderUnsigned(next(), 9) - 4);
                case 4 -> v = 0.0f;
                case 5 -> v = Long.remainderUnsigned(next(), 29) == 0 ? uniform() * 3.0f : 0.0f;
                case 6 -> v = Float.intBitsToFloat((int) (next() & 0x807FFFFFL));
                case 7 -> v = uniform() * 0x1p-120f;
                case 8 -> v = uniform() * 3.0e38f;
                case 9 -> {
                    long r = next();
                    v = (r & 15) == 0 ? (((r >>> 8) & 1) != 0 ? Float.POSITIVE_INFINITY : Float.NEGATIVE_INFINITY) : uniform();
                }
                case 10 -> {
                    long r = next();
                    v = (r & 15) == 0 ? Float.intBitsToFloat(((r >>> 8) & 1) != 0 ? 0xFFC00000 : 0x7FC00000) : uniform();
                }
                default -> {
                    int u = (int) (next() >>> 32);
                    if (((u >>> 23) & 0xFF) == 0xFF) u &= 0xBFFFFFFF;
                    v = Float.intBitsToFloat(u);
                }
            }
            x[off + i] = v;
        }
    }

    void importance(float[] w) {
        for (int i = 0; i < w.length; i++) {
            long r = next();
            w[i] = (r & 7) == 0 ? 0.0f : (float) ((r >>> 40) + 1) * 0x1p-22f;
        }
    }
}
