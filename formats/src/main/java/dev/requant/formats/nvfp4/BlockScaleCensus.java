package dev.requant.formats.nvfp4;

import dev.requant.formats.ggml.Float8;
import dev.requant.formats.io.LittleEndian;
import java.lang.foreign.MemorySegment;

/**
 * How often each E4M3 byte occurs among a tensor's block scales, and what follows from it: invalid codes (NaN 0x7F /
 * 0xFF, negative scales, which llama.cpp's UE4M3 reading would silently turn into 0 or their absolute value), the
 * range of the scales, and how far every scale can be moved by a power of two without changing a value.
 *
 * <p>Moving {@code 2^k} from the block scales into the per-tensor scale ({@code e4m3 · 2^-k}, {@code s2 · 2^k}) keeps
 * every product {@code e4m3 · s2} exactly, provided each used code shifted by {@code k} is itself an E4M3 code: normal
 * codes shift freely while their exponent stays at least 1, subnormal ones ({@code m · 2^-9}) only while the low bits
 * of the mantissa are zero, and nothing may pass 448.
 */
public final class BlockScaleCensus {
    /** The largest shift searched (E4M3 spans 2^-9 .. 448, 18 binades). */
    public static final int MAX_SHIFT = 20;

    private final long[] counts;

    private BlockScaleCensus(long[] counts) {
        this.counts = counts;
    }

    public static BlockScaleCensus of(Nvfp4Tensor t) {
        return of(t.scales());
    }

    public static BlockScaleCensus of(MemorySegment scaleBytes) {
        long[] c = new long[256];
        long n = scaleBytes.byteSize();
        for (long i = 0; i < n; i++) c[scaleBytes.get(LittleEndian.BYTE, i) & 0xFF]++;
        return new BlockScaleCensus(c);
    }

    public long count(int code) { return counts[code & 0xFF]; }

    public long total() {
        long n = 0;
        for (long c : counts) n += c;
        return n;
    }

    /** 0x7F and 0xFF: E4M3FN NaN. */
    public long nan() { return counts[0x7F] + counts[0xFF]; }

    /** Codes with the sign bit set and a non-zero magnitude (0x81..0xFE). */
    public long negative() {
        long n = 0;
        for (int c = 0x81; c < 0xFF; c++) n += counts[c];
        return n;
    }

    /** Zero scales (0x00, 0x80): their block dequantizes to zeros. */
    public long zero() { return counts[0x00] + counts[0x80]; }

    /** Positive subnormal codes 0x01..0x07 (below 2^-6, fewer than 3 mantissa bits). */
    public long subnormal() {
        long n = 0;
        for (int c = 1; c < 8; c++) n += counts[c];
        return n;
    }

    /** Blocks at the largest finite scale 448 (0x7E). */
    public long atMax() { return counts[0x7E]; }

    /** Whether every code is a finite, non-negative scale. */
    public boolean valid() { return nan() == 0 && negative() == 0; }

    /** The largest valid positive code in use, or 0. */
    public int maxCode() {
        for (int c = 0x7E; c > 0; c--) if (counts[c] > 0) return c;
        return 0;
    }

    /** The smallest valid positive code in use, or 0. */
    public int minPositiveCode() {
        for (int c = 1; c <= 0x7E; c++) if (counts[c] > 0) return c;
        return 0;
    }

    /**
     * The code of {@code e4m3(code) · 2^-k}, or -1 when that value is not exactly an E4M3 code (bits would be lost, or
     * it passes 448). Zero stays zero.
     */
    public static int shifted(int code, int k) {
        float v = Float8.e4m3ToFloat((byte) code);
        if (Float.isNaN(v) || v < 0f) return -1;
        if (v == 0f) return 0;
        float w = Math.scalb(v, -k);
        if (w > 448f) return -1;
        int c = Float8.e4m3FromFloat(w) & 0xFF;
        return Float8.e4m3ToFloat((byte) c) == w ? c : -1;
    }

    /** The largest {@code k >= 0} such that every valid code in use shifts down by {@code k} exactly. */
    public int maxExactShiftDown() {
        int k = 0;
        while (k < MAX_SHIFT && allShift(k + 1)) k++;
        return k;
    }

    /** The largest {@code k >= 0} such that every valid code in use shifts up by {@code k} (times 2^k) exactly. */
    public int maxExactShiftUp() {
        int k = 0;
        while (k < MAX_SHIFT && allShift(-(k + 1))) k++;
        return k;
    }

    /** Whether every valid code in use shifts by {@code k} ({@code e4m3 · 2^-k}) exactly. */
    public boolean allShift(int k) {
        for (int c = 1; c <= 0x7E; c++) if (counts[c] > 0 && shifted(c, k) < 0) return false;
        return true;
    }
}
