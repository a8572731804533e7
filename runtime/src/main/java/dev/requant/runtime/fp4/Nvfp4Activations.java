package dev.requant.runtime.fp4;

import dev.requant.formats.ggml.Float8;

/**
 * NVFP4 quantization of activations as the W4A4 GEMM paths do it at run time (vLLM's scaled_fp4_quant and TensorRT-LLM's
 * fp4_quantize feeding cuBLASLt / CUTLASS; qat-nvfp4-facts.md §2.4), with the one global scale a checkpoint's
 * {@code input_scale} fixes. Per 16 values:
 * <pre>
 *   gs       = 1 / input_scale                          (input_global_scale_inv)
 *   sf       = e4m3_rn_satfinite(gs · (amax / 6))       block scale byte
 *   outScale = sf == 0 ? 0 : gs / e4m3(sf)
 *   code     = e2m1_rn_satfinite(x · outScale)          round to nearest, ties to even (cvt.rn.satfinite.e2m1x2.f32)
 * </pre>
 * so {@code x ≈ e2m1(code) · e4m3(sf) · input_scale}. Unlike ModelOpt's weight quantizer (its _cast_fp4 rounds 2.5 up
 * and 3.5 down), the hardware conversion rounds ties to even. Each step is one IEEE float32 operation; the CUDA kernel
 * ({@code nvfp4.cu}) does the same operations with explicit round-to-nearest intrinsics, so both give the same bytes.
 */
public final class Nvfp4Activations {
    public static final int BLOCK = 16;
    private static final float[] MAG = {0f, 0.5f, 1f, 1.5f, 2f, 3f, 4f, 6f};

    private Nvfp4Activations() {}

    /** E2M1 code of {@code v}: nearest magnitude, ties to the even code (0, 1.0, 2.0, 4.0), |v| > 6 saturates to 6. */
    public static int e2m1Rne(float v) {
        float a = Math.abs(v);
        int c;
        if (!(a > 0.25f)) c = 0;          // ties at 0.25 go to 0 (even); NaN to 0
        else if (a < 0.75f) c = 1;
        else if (a <= 1.25f) c = 2;       // 0.75 -> 1.0 (even), 1.25 -> 1.0
        else if (a < 1.75f) c = 3;
        else if (a <= 2.5f) c = 4;        // 1.75 -> 2.0, 2.5 -> 2.0
        else if (a < 3.5f) c = 5;
        else if (a <= 5f) c = 6;          // 3.5 -> 4.0, 5 -> 4.0
        else c = 7;
        return v < 0f ? c | 8 : c;
    }

    public static float e2m1(int code) {
        float m = MAG[code & 7];
        return (code & 8) != 0 ? -m : m;
    }

    /**
     * Quantizes {@code n} values (a multiple of 16) of {@code x} from {@code off}: one code per byte into
     * {@code codes[cOff..]}, one E4M3 block scale byte per 16 values into {@code scales[sOff..]}.
     *
     * @param gs the global quantization multiplier, {@code 1 / input_scale}
     */
    public static void quantizeRow(float[] x, int off, int n, float gs, byte[] codes, int cOff, byte[] scales, int sOff) {
        for (int b = 0; b < n / BLOCK; b++) {
            int xb = off + b * BLOCK;
            float amax = 0f;
            for (int j = 0; j < BLOCK; j++) amax = Math.max(amax, Math.abs(x[xb + j]));
            byte sf = Float8.e4m3FromFloatSaturating(gs * (amax / 6f));
            float sfv = Float8.e4m3ToFloat(sf);
            float outScale = sfv == 0f ? 0f : gs / sfv;
            scales[sOff + b] = sf;
            for (int j = 0; j < BLOCK; j++) codes[cOff + b * BLOCK + j] = (byte) e2m1Rne(x[xb + j] * outScale);
        }
    }

    /** The dequantized activation of a code and its block scale byte: {@code e2m1 · e4m3 / gs} (for tests and reports). */
    public static float dequantize(int code, byte scale, float gs) {
        return e2m1(code) * Float8.e4m3ToFloat(scale) / gs;
    }
}
