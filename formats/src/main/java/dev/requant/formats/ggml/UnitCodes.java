package dev.requant.formats.ggml;

import dev.requant.formats.io.LittleEndian;
import java.lang.foreign.MemorySegment;

/**
 * The fast path of quantize_row_q2_0_ref, quantize_row_tq1_0_ref and quantize_row_tq2_0_ref, which scale a block by its
 * largest magnitude and round each x/amax half away from zero (roundf, lroundf) to -1, 0 or 1, for blocks where that
 * rounding is simple: every value finite and 1/amax finite. Then |x * (1/amax)| is at most 1 plus a rounding error,
 * and the reference's rounding, conversion to int and clamp come down to one conversion of t + copysign(0.5, t), in
 * double as roundf computes it (in float, 0.49999997 + 0.5 rounds up to 1). Blocks holding Inf or NaN, or whose
 * largest magnitude is so small (below 2^-128) that its inverse overflows, go through the codec's transliteration,
 * which rounds such values as the C code does.
 */
final class UnitCodes {
    private UnitCodes() {}

    /** The codes of one block of finite values into {@code run[p..]}, given id = 1/amax (0 for an all-zero block). */
    interface Codes {
        void write(float[] x, int o, float id, byte[] run, int p);
    }

    /** A codec's transliteration of one block, for the blocks the fast path leaves to it. */
    interface Transliteration {
        void encode(float[] x, int o, MemorySegment dst, long base);
    }

    /**
     * The row encoder of a type whose blocks hold the fp16 amax at {@code scaleOffset} and codes from
     * {@link #code}: blocks of finite values get their scale here and their codes from {@code codes}, the others go
     * through {@code transliteration}; {@code runBlocks} blocks are encoded into a scratch array per copy to the
     * destination. Each codec keeps one in a static final field, so the JIT sees its fields as constants.
     */
    record Rows(int qk, int blockBytes, int scaleOffset, int runBlocks, Codes codes, Transliteration transliteration) {
        void encode(float[] x, int xo, int n, MemorySegment dst, long dstOffset) {
            int blocks = n / qk;
            byte[] run = new byte[Math.min(blocks, runBlocks) * blockBytes];
            for (int b0 = 0; b0 < blocks; b0 += runBlocks) {
                int count = Math.min(runBlocks, blocks - b0);
                for (int b = b0; b < b0 + count; b++) {
                    int o = xo + b * qk, p = (b - b0) * blockBytes;
                    float amax = finiteLargest(x, o, qk);
                    if (amax != amax) { // Inf, NaN or a subnormal amax: the transliteration, into the run
                        transliteration.encode(x, o, MemorySegment.ofArray(run), p);
                        continue;
                    }
                    Q4_KCodec.putShort(run, p + scaleOffset, Float16.fromFloat(amax));
                    codes.write(x, o, amax != 0 ? 1.0f / amax : 0.0f, run, p);
                }
                long at = dstOffset + (long) b0 * blockBytes;
                MemorySegment.copy(run, 0, dst, LittleEndian.BYTE, at, count * blockBytes);
            }
        }
    }

    /**
     * The largest |x| of {@code x[o, o+n)}, or NaN where a value is Inf or NaN or the largest is not 0 and its inverse
     * overflows ({@link QuantFit#largestMagnitudeBits}); where it returns a number, it is the amax of the reference's
     * {@code a > amax} scan.
     */
    static float finiteLargest(float[] x, int o, int n) {
        int bits = QuantFit.largestMagnitudeBits(x, o, n);
        if (bits >= 0x7f800000) return Float.NaN;
        float amax = Float.intBitsToFloat(bits);
        return amax == 0 || 1.0f / amax < Float.POSITIVE_INFINITY ? amax : Float.NaN;
    }

    /**
     * {@code round(t) + 1} (0, 1 or 2) for {@code |t| < 1.5}, rounding halves away from zero; branch-free, since on
     * real weights the code of each value is as good as random (two comparisons ran at 1.1x the conversion's time).
     */
    static int code(float t) {
        return 1 + (int) ((double) t + Math.copySign(0.5, t));
    }
}
