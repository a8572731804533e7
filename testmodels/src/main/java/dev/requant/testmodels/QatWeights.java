package dev.requant.testmodels;

import dev.requant.formats.ggml.BFloat16;
import java.util.SplittableRandom;

/**
 * Deterministic weights as a Q4_0 quantization-aware training stores them: per block of 32, codes q = round(w/d)
 * clamped to -8..7 and stored values bf16(q*d), for each way a QAT lattice can define d. Rows are reproducible from
 * (seed, row index) alone, so a generator can stream a tensor of any size.
 */
public final class QatWeights {
    public static final int QK = 32;

    /** How a block's scale d is chosen. */
    public enum ScaleRule {
        /** d = signed extremum / -8 (llama.cpp's Q4_0 rule, as mlx describes Gemma QAT). */
        MAX_NEG8,
        /** d = absmax / 7 (a symmetric +-7 grid). */
        ABSMAX_7,
        /** d = absmax / c with c drawn per block from [6.2, 7.7): a learned scale. */
        LEARNED,
        /** Not quantization-aware: plain bf16 Gaussian weights. */
        NONE
    }

    /** The precision the training held d in. */
    public enum ScaleDtype { BF16, FP32 }

    /** Rare blocks a real checkpoint contains, mixed into QAT rows at the given rate. */
    public enum EdgeBlock { ALL_ZERO, SINGLE_VALUE, TINY_SCALE }

    private QatWeights() {}

    /** How one tensor of a synthetic QAT checkpoint is generated. */
    public record Assignment(ScaleRule rule, ScaleDtype dtype, double edgeRate) {
        public static Assignment of(ScaleRule rule, ScaleDtype dtype) { return new Assignment(rule, dtype, 0); }
    }

    /**
     * Weights for a synthetic checkpoint: 2-D tensors whose rows are whole blocks follow {@code assign(hfName)} (null
     * or rule NONE: plain Gaussian bf16), everything else (norms, scalars) comes from {@code base}. Deterministic per
     * block, so any slice of a tensor can be generated on its own.
     */
    public static WeightGenerator generator(long seed, float sigma, java.util.function.Function<String, Assignment> assign, WeightGenerator base) {
        return new WeightGenerator() {
            @Override
            public void fill(SyntheticTensor t, long first, float[] dst, int n) {
                long[] shape = t.shape();
                Assignment a = assign.apply(t.name());
                if (shape.length < 2 || shape[shape.length - 1] % QK != 0 || a == null) {
                    base.fill(t, first, dst, n);
                    return;
                }
                long nameSeed = seed * 0x9E3779B97F4A7C15L ^ t.name().hashCode() * 0xC2B2AE3D27D4EB4FL;
                float[] block = new float[QK];
                long i = first, end = first + n;
                while (i < end) {
                    long b = i / QK;
                    SplittableRandom r = new SplittableRandom(nameSeed + b * 0xBF58476D1CE4E5B9L);
                    EdgeBlock edge = null;
                    if (a.edgeRate() > 0 && r.nextDouble() < a.edgeRate()) edge = EdgeBlock.values()[r.nextInt(EdgeBlock.values().length)];
                    block(r, a.rule(), a.dtype(), sigma, edge, block, 0);
                    int from = (int) (i - b * QK), to = (int) Math.min(QK, end - b * QK);
                    System.arraycopy(block, from, dst, (int) (i - first), to - from);
                    i = b * QK + to;
                }
            }
        };
    }

    /**
     * One row of {@code n} (a multiple of 32) stored values.
     *
     * @param sigma standard deviation of the latent weights
     * @param edgeRate fraction of blocks replaced by edge-case blocks (0 for none)
     */
    public static void row(long seed, long row, ScaleRule rule, ScaleDtype dtype, float sigma, double edgeRate,
                           float[] dst, int off, int n) {
        SplittableRandom r = new SplittableRandom(seed * 0x9E3779B97F4A7C15L + row);
        for (int b = 0; b < n; b += QK) {
            EdgeBlock edge = null;
            if (edgeRate > 0 && r.nextDouble() < edgeRate) edge = EdgeBlock.values()[r.nextInt(EdgeBlock.values().length)];
            block(r, rule, dtype, sigma, edge, dst, off + b);
        }
    }

    /** One block of 32 stored values at {@code dst[off..]}. */
    public static void block(SplittableRandom r, ScaleRule rule, ScaleDtype dtype, float sigma, EdgeBlock edge,
                             float[] dst, int off) {
        if (edge == EdgeBlock.ALL_ZERO) {
            for (int i = 0; i < QK; i++) dst[off + i] = 0f;
            return;
        }
        if (edge == EdgeBlock.SINGLE_VALUE) {
            float v = BFloat16.round((float) r.nextGaussian() * sigma);
            for (int i = 0; i < QK; i++) dst[off + i] = v;
            return;
        }
        if (edge == EdgeBlock.TINY_SCALE) sigma = (float) Math.scalb(1.0, -15 - r.nextInt(3)); // F16-subnormal scales
        float[] w = new float[QK];
        int im = 0;
        for (int i = 0; i < QK; i++) {
            w[i] = (float) r.nextGaussian() * sigma;
            if (Math.abs(w[i]) > Math.abs(w[im])) im = i;
        }
        if (rule == ScaleRule.NONE) {
            for (int i = 0; i < QK; i++) dst[off + i] = BFloat16.round(w[i]);
            return;
        }
        float d = switch (rule) {
            case MAX_NEG8 -> w[im] / -8f;
            case ABSMAX_7 -> Math.abs(w[im]) / 7f;
            case LEARNED -> Math.abs(w[im]) / (6.2f + 1.5f * (float) r.nextDouble());
            case NONE -> throw new AssertionError();
        };
        if (dtype == ScaleDtype.BF16) d = BFloat16.round(d);
        for (int i = 0; i < QK; i++) {
            int q = Math.max(-8, Math.min(7, (int) Math.rint(w[i] / d)));
            dst[off + i] = BFloat16.round((float) q * d);
        }
    }
}
