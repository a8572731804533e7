package dev.requant.converter;

import dev.requant.formats.nvfp4.BlockScaleCensus;

/**
 * How an NVFP4 weight's value {@code e4m3 · s} is divided between the GGUF's block scales and its {@code .scale}
 * tensor: the block scales are moved by {@code 2^-shift} and the per-tensor scale by {@code 2^shift}, which changes no
 * product (the shift is limited to what every block scale takes exactly, {@link BlockScaleCensus#shifted}).
 *
 * <p>The shift is chosen by what llama.cpp does with the scale ({@link LlamaCppScaleUse}):
 * <ul>
 *   <li>APPLIED: shift 0, the split convert_hf_to_gguf.py writes. Nothing needs headroom: the NVFP4 product is
 *       float32 and is multiplied by the scale right after; the activations the CPU backend quantizes to Q8_0 are
 *       the true ones whatever the split.</li>
 *   <li>scale not applied: the per-tensor scale must become exactly 1 for llama.cpp to compute the checkpoint's
 *       values. That is possible when it is a power of two within the block scales' exact range
 *       ({@link Outcome#FOLDED}). Otherwise, for Gemma 3's loaded-but-unused FFN scales, the exact shift that brings
 *       the scale nearest to 1 is used ({@link Outcome#SHIFTED}, {@link Outcome#SHIFTED_INEXACT}: the values in the
 *       file stay exact; llama.cpp runs the tensor {@code 1/scale} too large, instead of ~3e4, which is what made its
 *       FFN overflow into NaN); a fallback type may be asked for instead ({@link Outcome#FALLBACK}: exact values in
 *       llama.cpp, a larger file), and weights whose scale llama.cpp does not even load always fall back.</li>
 * </ul>
 *
 * @param shift k: block scales times 2^-k, per-tensor scale times 2^k
 * @param scale the per-tensor multiplier after the shift (1 when folded)
 */
public record Nvfp4Split(int shift, float scale, LlamaCppScaleUse use, Outcome outcome) {
    public enum Outcome {
        /** Shift 0, scale applied by llama.cpp: convert_hf_to_gguf.py's split. */
        UPSTREAM,
        /** The scale folded into the block scales exactly; nothing is left for llama.cpp to apply. */
        FOLDED,
        /**
         * Scale not applied by llama.cpp and not foldable, but the factor it leaves on the output is normalized away
         * downstream (Gemma 3 ffn_up / ffn_down): nearest-to-1 shift, to keep the intermediate values in range.
         */
        SHIFTED,
        /** Scale not applied, not foldable, and the factor changes llama.cpp's result (Gemma 3 ffn_gate before GELU). */
        SHIFTED_INEXACT,
        /** Dequantized to another type (the scale is not applied and cannot be folded). */
        FALLBACK
    }

    /** Whether llama.cpp computes the checkpoint's function with this split (for SHIFTED: up to an RMSNorm's epsilon). */
    public boolean exactInLlamaCpp() { return outcome != Outcome.SHIFTED_INEXACT; }

    /** The factor llama.cpp's product is off by (1 unless shifted): it computes {@code W · residual()}. */
    public float residual() { return outcome == Outcome.SHIFTED || outcome == Outcome.SHIFTED_INEXACT ? 1f / scale : 1f; }

    /**
     * @param multiplier the weight's per-tensor scale as a multiplier
     * @param fallback whether a fallback type was asked for tensors whose scale llama.cpp drops
     */
    public static Nvfp4Split choose(float multiplier, BlockScaleCensus census, LlamaCppScaleUse use, boolean normalizedAway, boolean fallback) {
        if (use == LlamaCppScaleUse.APPLIED) return new Nvfp4Split(0, multiplier, use, Outcome.UPSTREAM);
        int down = census.maxExactShiftDown(), up = census.maxExactShiftUp();
        int e = Math.getExponent(multiplier);
        if (Math.scalb(1f, e) == multiplier && -e <= down && e <= up) {
            return new Nvfp4Split(-e, 1f, use, Outcome.FOLDED);
        }
        if (use == LlamaCppScaleUse.NOT_LOADED || fallback) return new Nvfp4Split(0, multiplier, use, Outcome.FALLBACK);
        return new Nvfp4Split(nearestShift(multiplier, census), Math.scalb(multiplier, nearestShift(multiplier, census)), use,
                normalizedAway ? Outcome.SHIFTED : Outcome.SHIFTED_INEXACT);
    }

    /**
     * The exact shift that brings {@code multiplier · 2^k} nearest to 1: {@code round(-log2 multiplier)}, limited to the
     * shifts every block scale takes exactly (BlockScaleCensus). ModelOpt's scales (amax/2688, ~3e-5 for Gemma) want
     * about 15 binades, more than E4M3's 2^-9..448 leaves to most tensors: the limit is then the smallest block scale,
     * and llama.cpp runs the tensor {@code 2^(k*-k)} too large.
     */
    static int nearestShift(float multiplier, BlockScaleCensus census) {
        int k = (int) Math.round(-Math.log(multiplier) / Math.log(2));
        return Math.max(-census.maxExactShiftUp(), Math.min(census.maxExactShiftDown(), k));
    }
}
