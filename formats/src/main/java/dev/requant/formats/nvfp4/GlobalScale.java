package dev.requant.formats.nvfp4;

/**
 * The FP32 per-tensor scale of an NVFP4 tensor in the convention of the producer that stored it. The two producers
 * store reciprocal quantities (qat-nvfp4-facts.md §2.4):
 * <ul>
 *   <li>ModelOpt {@code weight_scale_2} / {@code input_scale}: a multiplier, {@code W = e2m1 · (e4m3 · s)};</li>
 *   <li>compressed-tensors {@code weight_global_scale} / {@code input_global_scale}: a divisor,
 *       {@code W = e2m1 · (e4m3 / g)}.</li>
 * </ul>
 * The per-block scale is computed first, in float32, then multiplied by the E2M1 value, the order both producers'
 * dequantizers use ({@code NVFP4QTensor.dequantize}: {@code per_block_scale = scale.float() * double_scale};
 * compressed-tensors {@code _dequantize}: {@code scale / global_scale}); the order decides the last bit for E2M1
 * values 1.5, 3 and 6.
 */
public record GlobalScale(float value, Convention convention) {
    public enum Convention {
        /** ModelOpt: the stored value multiplies. */
        MULTIPLIER,
        /** compressed-tensors: the stored value divides. */
        DIVISOR
    }

    /** The scale of a tensor that has none stored (convert_hf_to_gguf.py defaults a missing weight_scale_2 to 1.0). */
    public static final GlobalScale ONE = new GlobalScale(1f, Convention.MULTIPLIER);

    public static GlobalScale multiplier(float s) { return new GlobalScale(s, Convention.MULTIPLIER); }

    public static GlobalScale divisor(float g) { return new GlobalScale(g, Convention.DIVISOR); }

    /** The scale of one 16-element block whose E4M3 scale decodes to {@code e4m3}, rounded to float32 once. */
    public float blockScale(float e4m3) {
        return convention == Convention.MULTIPLIER ? e4m3 * value : e4m3 / value;
    }

    /**
     * The scale as a multiplier: ModelOpt's value itself, compressed-tensors' reciprocal (float32 {@code 1/g}, what
     * convert_hf_to_gguf.py's inverse_scale writes into the GGUF {@code .scale} tensor).
     */
    public float multiplier() {
        return convention == Convention.MULTIPLIER ? value : 1f / value;
    }

    /** Finite and positive: anything else cannot scale a tensor. */
    public boolean isValid() {
        return Float.isFinite(value) && value > 0f;
    }

    @Override
    public String toString() {
        return (convention == Convention.MULTIPLIER ? "x" : "/") + value;
    }
}
