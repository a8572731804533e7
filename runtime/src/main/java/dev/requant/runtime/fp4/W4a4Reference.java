package dev.requant.runtime.fp4;

import dev.requant.formats.ggml.Ue4m3;
import dev.requant.formats.io.LittleEndian;
import dev.requant.formats.nvfp4.GgmlNvfp4Rows;
import java.lang.foreign.MemorySegment;

/**
 * The W4A4 product, emulated bit for bit in float32: for output {@code o} of activation row {@code t},
 * <pre>
 *   acc = Σ_b ( Σ_{j<16} e2m1(a[t, 16b+j]) · e2m1(w[o, 16b+j]) ) · ( e4m3(sa[t, b]) · e4m3(sw[o, b]) )    b = 0, 1, ... in order
 *   y   = acc · alpha,   alpha = input_scale · weight_scale     (vLLM's alpha)
 * </pre>
 * Every term is exact in float32 (a 16-product E2M1 dot is a multiple of 1/4 below 577, a product of two E4M3 values
 * has 8 significant bits), so only the running sum rounds, once per block, in ascending block order; the CUDA
 * emulation kernel adds in the same order without FMA and returns the same floats. Tensor-core FP4 GEMMs (cuBLASLt)
 * sum in their own order and agree to rounding.
 *
 * <p>Weights are GGML NVFP4 rows (as in a GGUF): codes split-half per 16, UE4M3 scale bytes read at their full E4M3
 * value (ggml's table is doubled and its decoder halves the scale; the product is the same).
 */
public final class W4a4Reference {
    private W4a4Reference() {}

    /**
     * {@code y[t * ldy + o]} for {@code t < nRows}, {@code o < rows}.
     *
     * @param codes activation codes, one per byte, row {@code t} at {@code t * cols}
     * @param scales activation block scales, row {@code t} at {@code t * cols / 16}
     * @param weight GGML NVFP4 bytes of {@code rows} rows of {@code cols}
     */
    public static void multiply(byte[] codes, byte[] scales, int nRows, MemorySegment weight, int rows, int cols, float alpha,
            float[] y, int ldy, int oFrom, int oTo) {
        int nb = cols / 16;
        long rowBytes = GgmlNvfp4Rows.rowBytes(cols);
        float[] wv = new float[cols];
        float[] ws = new float[nb];
        for (int o = oFrom; o < oTo; o++) {
            long base = o * rowBytes;
            for (int b = 0; b < nb; b++) {
                long sb = base + (long) (b / 4) * GgmlNvfp4Rows.SUPER_BLOCK_BYTES;
                int s = b % 4;
                ws[b] = Ue4m3.toFloat(weight.get(LittleEndian.BYTE, sb + s));
                for (int j = 0; j < 8; j++) {
                    int q = weight.get(LittleEndian.BYTE, sb + 4 + s * 8 + j) & 0xFF;
                    wv[b * 16 + j] = Nvfp4Activations.e2m1(q & 0x0F);
                    wv[b * 16 + j + 8] = Nvfp4Activations.e2m1(q >>> 4);
                }
            }
            for (int t = 0; t < nRows; t++) {
                float acc = 0f;
                int a0 = t * cols, s0 = t * nb;
                for (int b = 0; b < nb; b++) {
                    float dot = 0f;
                    for (int j = 0; j < 16; j++) dot += Nvfp4Activations.e2m1(codes[a0 + b * 16 + j]) * wv[b * 16 + j];
                    float sc = dev.requant.formats.ggml.Float8.e4m3ToFloat(scales[s0 + b]) * ws[b];
                    acc += dot * sc;
                }
                y[t * ldy + o] = acc * alpha;
            }
        }
    }
}
