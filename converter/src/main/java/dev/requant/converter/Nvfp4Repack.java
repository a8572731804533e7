package dev.requant.converter;

import dev.requant.formats.ggml.Fp4E2M1;
import dev.requant.formats.ggml.GgmlType;
import dev.requant.formats.ggml.Ue4m3;
import dev.requant.formats.io.LittleEndian;
import dev.requant.formats.nvfp4.BlockScaleCensus;
import dev.requant.formats.nvfp4.Nvfp4Tensor;
import java.lang.foreign.MemorySegment;
import java.util.List;
import java.util.Optional;

/**
 * An NVFP4 checkpoint weight as a GGML NVFP4 tensor, losslessly (gemma-conversion.md §7.2, convert_hf_to_gguf.py
 * {@code _nvfp4_pack}): the same E2M1 codes regrouped from the producers' adjacent pairs (element 2i low nibble) into
 * GGML's split halves ({@code qs[8s + j] = c[16s + j] | c[16s + 8 + j] << 4}), four 16-element sub-blocks per 36-byte
 * super-block behind their four scale bytes. The scale bytes are the checkpoint's E4M3 bits moved by the
 * {@link Nvfp4Split}'s shift (exactly; the split was checked against every code in use).
 *
 * <p>Its float rows are the GGUF's own reading, {@code kvalues[code] · ue4m3(d)} times the {@code .scale} value
 * (per-block scale first, as the producers dequantize), which equals the checkpoint's dequantization.
 */
final class Nvfp4Repack implements RawRecipe {
    private final Nvfp4Tensor t;
    private final Nvfp4Split split;
    private final byte[] shifted = new byte[256];

    Nvfp4Repack(Nvfp4Tensor t, Nvfp4Split split) {
        if (t.cols() % 64 != 0) throw new IllegalArgumentException(t.module() + ": " + t.cols() + " columns is not a multiple of 64");
        this.t = t;
        this.split = split;
        for (int c = 0; c < 256; c++) {
            int s = (c & 0x80) != 0 && (c & 0x7F) != 0 ? -1 : BlockScaleCensus.shifted(c & 0x7F, split.shift());
            shifted[c] = (byte) (s < 0 ? 0x7F : s); // invalid codes never reach here (the planner refuses them)
        }
    }

    Nvfp4Tensor tensor() { return t; }

    Nvfp4Split split() { return split; }

    @Override public GgmlType rawType() { return GgmlType.NVFP4; }

    @Override public List<String> sources() { return List.of(t.weightName()); }

    @Override
    public String transform() {
        return switch (split.outcome()) {
            case UPSTREAM -> "NVFP4 repack";
            case FOLDED -> "NVFP4 repack, scale folded (2^" + (-split.shift()) + ")";
            case SHIFTED, SHIFTED_INEXACT -> "NVFP4 repack, scale split 2^" + split.shift() + " (llama.cpp runs it x" + String.format("%.3g", split.residual()) + ")";
            case FALLBACK -> "NVFP4 dequantize";
        };
    }

    @Override public String sourceType() { return "NVFP4"; }

    @Override public long[] ne() { return new long[] {t.cols(), t.rows()}; }

    @Override public Optional<MemorySegment> stored(GgmlType type) { return Optional.empty(); }

    @Override
    public void copyRows(long row, int count, MemorySegment dst, long dstOffset) {
        long cols = t.cols();
        long superBlocks = cols / 64;
        long rowBytes = superBlocks * 36;
        MemorySegment packed = t.packed(), scales = t.scales();
        for (int i = 0; i < count; i++) {
            long r = row + i;
            long pRow = r * (cols / 2), sRow = r * (cols / 16), o = dstOffset + i * rowBytes;
            for (long sb = 0; sb < superBlocks; sb++, o += 36) {
                for (int s = 0; s < 4; s++) {
                    long b = sb * 4 + s;
                    dst.set(LittleEndian.BYTE, o + s, shifted[scales.get(LittleEndian.BYTE, sRow + b) & 0xFF]);
                    long p = pRow + b * 8;
                    for (int j = 0; j < 8; j++) {
                        int lo = code(packed, p, j), hi = code(packed, p, j + 8);
                        dst.set(LittleEndian.BYTE, o + 4 + s * 8 + j, (byte) (lo | hi << 4));
                    }
                }
            }
        }
    }

    /** Element {@code e} (0..15) of the 16-element block whose packed bytes start at {@code p}. */
    private static int code(MemorySegment packed, long p, int e) {
        int b = packed.get(LittleEndian.BYTE, p + (e >> 1)) & 0xFF;
        return (e & 1) == 0 ? b & 0x0F : b >>> 4;
    }

    @Override
    public void readRows(long row, int count, float[] dst) {
        int cols = (int) t.cols();
        for (int i = 0; i < count; i++) {
            long r = row + i;
            for (int b = 0; b < cols / 16; b++) {
                float s = Ue4m3.toFloat(shifted[t.scaleCode(r, b)]) * split.scale();
                for (int j = 0; j < 16; j++) dst[i * cols + b * 16 + j] = Fp4E2M1.toFloat(t.code(r, b * 16 + j)) * s;
            }
        }
    }

    @Override
    public String toString() { return t.weightName() + " NVFP4 " + split; }
}
