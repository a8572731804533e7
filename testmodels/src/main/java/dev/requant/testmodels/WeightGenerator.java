package dev.requant.testmodels;

import java.nio.ByteBuffer;

/**
 * The values of a synthetic checkpoint's tensors, tensor by tensor and piece by piece, so that a writer can stream a
 * checkpoint of any size. Implementations must be deterministic: element {@code i} of a tensor has the same value
 * whatever pieces it is asked for in.
 */
public interface WeightGenerator {
    /** Fills {@code dst[0, n)} with elements {@code [first, first + n)} (row-major) of a float tensor. */
    void fill(SyntheticTensor tensor, long first, float[] dst, int n);

    /**
     * The raw bytes {@code [firstByte, firstByte + dst.remaining())} of a tensor stored in a non-float dtype (packed
     * NVFP4 codes, FP8 scales...). The default refuses: float generators do not know such layouts.
     */
    default void fillBytes(SyntheticTensor tensor, long firstByte, ByteBuffer dst) {
        throw new UnsupportedOperationException(tensor.name() + ": dtype " + tensor.dtype() + " needs a generator that writes raw bytes");
    }

    /**
     * Counter-based pseudo-random values (splitmix64 of seed, tensor name and element index), uniform in
     * {@code center ± spread} with the center and spread chosen by the tensor's role: matrices 0 ± 0.05, Gemma 3 norms
     * 0 ± 0.3 (stored as w, used as 1 + w), Gemma 4 norms 1 ± 0.3, scalars and router scales 1.
     */
    static WeightGenerator hashed(long seed) {
        return new WeightGenerator() {
            @Override
            public void fill(SyntheticTensor t, long first, float[] dst, int n) {
                float center, spread;
                String name = t.name();
                if (name.endsWith("layer_scalar") || name.endsWith("router.scale") || name.endsWith("per_expert_scale")) {
                    center = 1f;
                    spread = 0f;
                } else if (t.shape().length == 1 && name.contains("norm")) {
                    center = t.gemma4() ? 1f : 0f;
                    spread = 0.3f;
                } else {
                    center = 0f;
                    spread = 0.05f;
                }
                long base = seed * 0x9E3779B97F4A7C15L + name.hashCode() * 0xC2B2AE3D27D4EB4FL;
                for (int i = 0; i < n; i++) {
                    long z = base + (first + i) * 0x9E3779B97F4A7C15L;
                    z = (z ^ (z >>> 30)) * 0xBF58476D1CE4E5B9L;
                    z = (z ^ (z >>> 27)) * 0x94D049BB133111EBL;
                    z ^= z >>> 31;
                    float u = (z >>> 40) * 0x1.0p-24f; // [0, 1)
                    dst[i] = center + spread * (2f * u - 1f);
                }
            }
        };
    }
}
