package dev.requant.converter.qat;

import dev.requant.formats.ggml.BFloat16;
import dev.requant.formats.ggml.BlockCodec;
import dev.requant.formats.ggml.Float16;
import dev.requant.formats.ggml.GgmlType;
import dev.requant.formats.io.LittleEndian;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;

/**
 * Recovers the Q8_0 lattice of one block of 32 stored weights: int8 codes q[i] and an F16 scale d such that
 * llama.cpp's dequantization, q[i]*d in float32, rounded to the checkpoint's precision gives back every stored value
 * bit for bit. The rule searched is the one 8-bit QAT and llama.cpp's own Q8_0 use: d = absmax/127, so the block's
 * extreme element has code +-127.
 *
 * <p>Why a few F16 neighbours suffice: the stored extreme is round(127*d), within 2^-9 (BF16) of 127*d, so d lies
 * within 2^-9 of absmax/127 relative, which an F16 grid (spacing 2^-11 to 2^-10 relative) covers with its nearest
 * value and five on each side; the nearest is tried first. Where two scales both reproduce a block, either gives back
 * the stored bits, which is all a lattice promises. Every other element then has exactly one code consistent with d (|q| <= 127 and a rounding error of
 * at most 2^-9 relative move q*d by under half a code), so rint(s/d) finds it, and the product q*d is exact in float32
 * (8 + 11 significand bits), so the check is exact.
 *
 * <p>A block with no exact solution gets llama.cpp's Q8_0 encoding (ggml-quants.c quantize_row_q8_0_ref) and is
 * reported as inexact with its largest error. Not thread-safe: one instance per thread.
 */
public final class Q8_0Lattice {
    public static final int QK = 32;
    public static final int BLOCK_BYTES = 34;
    private static final int[] NEIGHBOURS = {0, -1, 1, -2, 2, -3, 3, -4, 4, -5, 5};

    private final StoredPrecision precision;
    private final byte[] codes = new byte[QK];
    private final byte[] trial = new byte[QK];
    private final MemorySegment scratch = MemorySegment.ofArray(new byte[BLOCK_BYTES]);
    private static final BlockCodec REFERENCE = BlockCodec.of(GgmlType.Q8_0);
    private short scaleBits;
    private boolean exact;
    private LatticeRule rule;
    private double maxAbsError;

    public Q8_0Lattice(StoredPrecision precision) {
        this.precision = precision;
    }

    public StoredPrecision precision() { return precision; }

    /** Solves the block {@code x[off..off+32)}; returns whether an exact lattice was found. */
    public boolean solve(float[] x, int off) {
        float amax = 0;
        for (int i = 0; i < QK; i++) amax = Math.max(amax, Math.abs(x[off + i]));
        maxAbsError = 0;
        if (amax == 0) {
            java.util.Arrays.fill(codes, (byte) 0);
            scaleBits = 0;
            exact = true;
            rule = LatticeRule.ZERO;
            return true;
        }
        if (Float.isFinite(amax)) {
            short nearest = Float16.fromFloat(amax / 127f);
            for (int delta : NEIGHBOURS) {
                short h = (short) (nearest + delta);
                float d = Float16.toFloat(h);
                if (!(d > 0) || Float.isInfinite(d) || h < 0) continue;
                if (fits(x, off, d)) {
                    System.arraycopy(trial, 0, codes, 0, QK);
                    scaleBits = h;
                    exact = true;
                    rule = LatticeRule.ABSMAX_OVER_127;
                    return true;
                }
            }
        }
        reference(x, off, amax);
        return false;
    }

    private boolean fits(float[] x, int off, float d) {
        for (int i = 0; i < QK; i++) {
            float s = x[off + i];
            double q = Math.rint((double) s / d);
            if (q < -128 || q > 127) return false;
            if (precision.round((float) q * d) != s) return false;
            trial[i] = (byte) q;
        }
        return true;
    }

    /** llama.cpp's Q8_0 encoder for the block (ggml-quants.c quantize_row_q8_0_ref), and its largest error. */
    private void reference(float[] x, int off, float amax) {
        REFERENCE.encodeRow(x, off, QK, null, scratch, 0);
        scaleBits = scratch.get(LittleEndian.SHORT, 0);
        float d = Float16.toFloat(scaleBits);
        for (int i = 0; i < QK; i++) {
            codes[i] = scratch.get(ValueLayout.JAVA_BYTE, 2 + i);
            maxAbsError = Math.max(maxAbsError, Math.abs((double) codes[i] * d - x[off + i]));
        }
        if (!Float.isFinite(amax)) maxAbsError = Double.POSITIVE_INFINITY;
        exact = false;
        rule = null;
    }

    /** Writes the last block as block_q8_0 (F16 scale, 32 int8 codes). */
    public void writeBlock(MemorySegment dst, long off) {
        dst.set(LittleEndian.SHORT, off, scaleBits);
        MemorySegment.copy(codes, 0, dst, ValueLayout.JAVA_BYTE, off + 2, QK);
    }

    public boolean exact() { return exact; }

    public float scale() { return Float16.toFloat(scaleBits); }

    public int code(int i) { return codes[i]; }

    /** {@link LatticeRule#ABSMAX_OVER_127} or ZERO for exact blocks, null otherwise. */
    public LatticeRule rule() { return rule; }

    /** Whether the scale is also a BF16 value (QAT that held its scales in BF16). */
    public boolean bf16Scale() { return BFloat16.round(scale()) == scale(); }

    /** Largest |dequantized - stored| of an inexact block (0 for exact ones). */
    public double maxAbsError() { return maxAbsError; }
}
