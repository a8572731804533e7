package dev.requant.formats.nvfp4;

import dev.requant.formats.ggml.Float8;
import dev.requant.formats.ggml.Fp4E2M1;
import dev.requant.formats.io.LittleEndian;
import java.lang.foreign.MemorySegment;

/**
 * Float weights to NVFP4, the way NVIDIA ModelOpt quantizes them (NVFP4QTensor.quantize, dynamic path;
 * qat-nvfp4-facts.md §2.1), one row at a time:
 * <pre>
 *   weight_scale_2 = amax(W) / (6·448)                                   float32
 *   block scale    = e4m3(max(block_amax / (6·weight_scale_2), 2^-9))  (0 → 1.0), round to nearest even
 *   code           = _cast_fp4(x / (e4m3 · weight_scale_2))            nearest E2M1; ties 0.25→0, 0.75→1, 1.25→1,
 *                                                                       1.75→2, 2.5→3, 3.5→3, 5→4
 * </pre>
 * For compressed-tensors output the global scale is its own {@code 448·6 / amax} divisor (generate_gparam) and the
 * block scale {@code g · (block_amax / 6)}; the codes follow the same rule against the block scale the
 * compressed-tensors dequantizer computes ({@code e4m3 / g}).
 *
 * <p>With importance weights (an imatrix's per-column mean of x², llama-quantize's meaning) each block's scale is
 * chosen among the amax scale and the seven E4M3 codes below it and one above, by the smallest importance-weighted
 * squared error of the reconstruction; the amax scale wins ties, so the weighted error never exceeds ModelOpt's.
 */
public final class Nvfp4Quantizer {
    /** Block scale candidates below the amax scale tried by the importance search. */
    static final int SEARCH_BELOW = 7;
    /** ... and above it. */
    static final int SEARCH_ABOVE = 1;

    private static final float[] BOUNDS = {0.25f, 0.75f, 1.25f, 1.75f, 2.5f, 3.5f, 5f};
    private static final float[] E2M1 = {0f, 0.5f, 1f, 1.5f, 2f, 3f, 4f, 6f};

    private final GlobalScale.Convention convention;

    public Nvfp4Quantizer(GlobalScale.Convention convention) {
        this.convention = convention;
    }

    /** ModelOpt's quantizer (multiplier convention). */
    public static Nvfp4Quantizer modelOpt() {
        return new Nvfp4Quantizer(GlobalScale.Convention.MULTIPLIER);
    }

    public static Nvfp4Quantizer of(Nvfp4Format format) {
        return new Nvfp4Quantizer(format.convention());
    }

    public GlobalScale.Convention convention() { return convention; }

    /**
     * The per-tensor weight scale for a tensor whose largest magnitude is {@code amax}. An all-zero tensor gets 1
     * (ModelOpt would divide by zero).
     */
    public GlobalScale globalScale(float amax) {
        if (!(amax > 0f) || !Float.isFinite(amax)) {
            if (amax == 0f) return new GlobalScale(1f, convention);
            throw new IllegalArgumentException("amax " + amax + " cannot be quantized");
        }
        if (convention == GlobalScale.Convention.MULTIPLIER) return GlobalScale.multiplier(amax / 2688f);
        return GlobalScale.divisor(2688f / amax);
    }

    /** The activation scale for calibrated activation maximum {@code amax} (get_activation_scaling_factor). */
    public GlobalScale inputScale(float amax) {
        if (!(amax > 0f)) return null;
        return convention == GlobalScale.Convention.MULTIPLIER ? GlobalScale.multiplier(amax / 2688f) : GlobalScale.divisor(2688f / amax);
    }

    /**
     * The amax-derived E4M3 block scale code for a block whose largest magnitude is {@code bamax}: ModelOpt's
     * {@code bamax / (6·s2)} or compressed-tensors' {@code g · (bamax / 6)}, 0 replaced by 1, clamped to
     * [2^-9, 448], cast with round to nearest even.
     */
    public static int amaxScaleCode(float bamax, GlobalScale gs) {
        float pbs = gs.convention() == GlobalScale.Convention.MULTIPLIER ? bamax / (6f * gs.value()) : gs.value() * (bamax / 6f);
        if (pbs == 0f) pbs = 1f;
        if (pbs < 0x1p-9f) pbs = 0x1p-9f;
        return Float8.e4m3FromFloatSaturating(pbs) & 0xFF;
    }

    /** ModelOpt's _cast_fp4: sign of {@code v < 0}, searchsorted over the bounds, +1 on 0.75, 1.75 and 2.5. */
    public static int castFp4(float v) {
        int sign = v < 0f ? 8 : 0;
        float a = Math.abs(v);
        if (Float.isNaN(a)) return 7; // searchsorted puts NaN after every bound
        int ord = 0;
        while (ord < BOUNDS.length && BOUNDS[ord] < a) ord++;
        if (a == 0.75f || a == 1.75f || a == 2.5f) ord++;
        return sign | ord;
    }

    /**
     * Quantizes {@code n} values (a multiple of 16) of {@code x} from {@code off}: {@code n/2} packed bytes to
     * {@code packed} at {@code packedOff}, {@code n/16} E4M3 bytes to {@code scales} at {@code scalesOff}.
     *
     * @param importance per-column weights of this row ({@code n} values from index 0), or null for ModelOpt's scales
     */
    public void quantizeRow(float[] x, int off, int n, GlobalScale gs, float[] importance, MemorySegment packed, long packedOff,
            MemorySegment scales, long scalesOff) {
        if (n % Nvfp4Tensor.BLOCK != 0) throw new IllegalArgumentException("row of " + n + " is not a multiple of 16");
        int[] codes = new int[Nvfp4Tensor.BLOCK];
        for (int b = 0; b < n / Nvfp4Tensor.BLOCK; b++) {
            int xb = off + b * Nvfp4Tensor.BLOCK;
            float bamax = 0f;
            for (int j = 0; j < Nvfp4Tensor.BLOCK; j++) bamax = Math.max(bamax, Math.abs(x[xb + j]));
            int sc = amaxScaleCode(bamax, gs);
            if (importance != null) sc = searchScale(x, xb, gs, importance, b * Nvfp4Tensor.BLOCK, sc);
            encodeBlock(x, xb, gs.blockScale(Float8.e4m3ToFloat((byte) sc)), codes);
            scales.set(LittleEndian.BYTE, scalesOff + b, (byte) sc);
            for (int j = 0; j < Nvfp4Tensor.BLOCK / 2; j++) {
                packed.set(LittleEndian.BYTE, packedOff + (long) b * 8 + j, (byte) (codes[2 * j] | (codes[2 * j + 1] << 4)));
            }
        }
    }

    /** The codes of one block against its dequantized block scale ({@code x / s} in float32, then _cast_fp4). */
    static void encodeBlock(float[] x, int xb, float s, int[] codes) {
        for (int j = 0; j < Nvfp4Tensor.BLOCK; j++) codes[j] = castFp4(x[xb + j] / s);
    }

    /** The importance-weighted squared error of one block encoded with block scale {@code s}. */
    static double blockError(float[] x, int xb, float s, float[] w, int wb) {
        double err = 0;
        for (int j = 0; j < Nvfp4Tensor.BLOCK; j++) {
            int c = castFp4(x[xb + j] / s);
            float q = Fp4E2M1.toFloat(c) * s;
            double d = (double) x[xb + j] - q;
            err += w[wb + j] * d * d;
        }
        return err;
    }

    private static int searchScale(float[] x, int xb, GlobalScale gs, float[] w, int wb, int amaxCode) {
        int best = amaxCode;
        double bestErr = blockError(x, xb, gs.blockScale(Float8.e4m3ToFloat((byte) amaxCode)), w, wb);
        int lo = Math.max(1, amaxCode - SEARCH_BELOW), hi = Math.min(0x7E, amaxCode + SEARCH_ABOVE);
        for (int c = lo; c <= hi; c++) {
            if (c == amaxCode) continue;
            double e = blockError(x, xb, gs.blockScale(Float8.e4m3ToFloat((byte) c)), w, wb);
            if (e < bestErr) {
                bestErr = e;
                best = c;
            }
        }
        return best;
    }

    /** The E2M1 magnitudes in code order (0..7). */
    static float e2m1(int index) { return E2M1[index]; }
}
