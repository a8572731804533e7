package dev.requant.converter.quantize;

import dev.requant.formats.ggml.GgmlType;
import dev.requant.formats.io.LittleEndian;
import java.lang.foreign.MemorySegment;

/**
 * ggml_validate_row_data (ggml/src/ggml-quants.c): float data must hold no NaN or infinity, and quantized blocks no
 * fp16 scale (d, m, dmin) that is NaN or infinite, nor an MXFP4 exponent of 0xFF. llama-quantize runs it on every
 * tensor it loads (check_tensors) and on every row it writes ("quantized data validation failed").
 */
public final class RowDataCheck {
    private RowDataCheck() {}

    /**
     * The index of the first bad element (float types) or block (quantized types), or -1 when the data is valid. One
     * small method per layout: a quantization checks several types (its inputs, F32 norms, each output type), and a
     * single method holding every loop was compiled again by the JIT each time another type's branch became hot.
     */
    public static long firstInvalid(GgmlType type, MemorySegment data, long offset, long bytes) {
        // In slices of whole blocks (or elements): a quantization checks each chunk it writes, a few MiB, on its first
        // calls while this runs in the interpreter, and the launcher's JVM compiles no loop while it runs (no on-stack
        // replacement). Called per slice, the loops below are compiled after a few slices instead of after a few chunks:
        // a seventh of the main thread's CPU in a short quantization went to interpreting them.
        long unit = type.typeSize(); // a block's bytes, or an element's (float types have blocks of one)
        if (unit <= 0) return firstInvalidSlice(type, data, offset, bytes);
        long slice = Math.max(1, SLICE_BYTES / unit) * unit;
        for (long done = 0; done < bytes; done += slice) {
            long bad = firstInvalidSlice(type, data, offset + done, Math.min(slice, bytes - done));
            if (bad >= 0) return done / unit + bad;
        }
        return -1;
    }

    private static final long SLICE_BYTES = 16 << 10;

    private static long firstInvalidSlice(GgmlType type, MemorySegment data, long offset, long bytes) {
        return switch (type) {
            case F32 -> firstNonFiniteF32(data, offset, bytes);
            case F64 -> firstNonFiniteF64(data, offset, bytes);
            case F16 -> firstNonFiniteF16(data, offset, bytes);
            case BF16 -> firstNonFiniteBf16(data, offset, bytes);
            case MXFP4 -> firstBadMxfp4(data, offset, bytes, type.typeSize());
            case IQ1_M -> firstBadIq1m(data, offset, bytes, type.typeSize());
            default -> firstBadScale(fp16Scales(type), type.typeSize(), data, offset, bytes);
        };
    }

    private static long firstNonFiniteF32(MemorySegment data, long offset, long bytes) {
        for (long i = 0; i < bytes / 4; i++) {
            if (nonFinite32(data.get(LittleEndian.INT, offset + 4 * i))) return i;
        }
        return -1;
    }

    private static long firstNonFiniteF64(MemorySegment data, long offset, long bytes) {
        for (long i = 0; i < bytes / 8; i++) {
            if (!Double.isFinite(data.get(LittleEndian.DOUBLE, offset + 8 * i))) return i;
        }
        return -1;
    }

    private static long firstNonFiniteF16(MemorySegment data, long offset, long bytes) {
        for (long i = 0; i < bytes / 2; i++) if (!finiteF16(data.get(LittleEndian.SHORT, offset + 2 * i))) return i;
        return -1;
    }

    private static long firstNonFiniteBf16(MemorySegment data, long offset, long bytes) {
        for (long i = 0; i < bytes / 2; i++) if ((data.get(LittleEndian.SHORT, offset + 2 * i) & 0x7f80) == 0x7f80) return i;
        return -1;
    }

    private static long firstBadMxfp4(MemorySegment data, long offset, long bytes, int size) {
        for (long b = 0; b < bytes / size; b++) {
            if ((data.get(LittleEndian.BYTE, offset + b * size) & 0xFF) == 0xFF) return b;
        }
        return -1;
    }

    private static long firstBadIq1m(MemorySegment data, long offset, long bytes, int size) {
        // no d field: the fp16 scale is the top nibbles of the four uint16 words of scales[8] (bytes 48..55)
        for (long b = 0; b < bytes / size; b++) {
            long sc = offset + b * size + 48;
            int bits = (data.get(LittleEndian.SHORT, sc) & 0xF000) >>> 12 | (data.get(LittleEndian.SHORT, sc + 2) & 0xF000) >>> 8
                    | (data.get(LittleEndian.SHORT, sc + 4) & 0xF000) >>> 4 | data.get(LittleEndian.SHORT, sc + 6) & 0xF000;
            if (!finiteF16((short) bits)) return b;
        }
        return -1;
    }

    private static long firstBadScale(int[] scales, int size, MemorySegment data, long offset, long bytes) {
        if (scales.length == 0 || size == 0) return -1;
        for (long b = 0; b < bytes / size; b++) {
            long base = offset + b * size;
            for (int s : scales) if (!finiteF16(data.get(LittleEndian.SHORT, base + s))) return b;
        }
        return -1;
    }

    private static boolean nonFinite32(int bits) {
        return (bits & 0x7f800000) == 0x7f800000;
    }

    private static boolean finiteF16(short h) {
        return (h & 0x7c00) != 0x7c00;
    }

    /** Byte offsets of the fp16 scale fields of one block (ggml-common.h block layouts). */
    static int[] fp16Scales(GgmlType type) {
        return switch (type) {
            case Q4_0, Q5_0, Q8_0, Q1_0, Q2_0, IQ2_XXS, IQ2_XS, IQ3_XXS, IQ1_S, IQ4_NL, IQ3_S, IQ2_S, IQ4_XS -> new int[] {0};
            case Q4_1, Q5_1, Q4_K, Q5_K -> new int[] {0, 2};
            case Q2_K -> new int[] {80, 82};
            case Q3_K -> new int[] {108};
            case Q6_K -> new int[] {208};
            case TQ1_0 -> new int[] {52};
            case TQ2_0 -> new int[] {64};
            default -> new int[0]; // NVFP4 (any UE4M3 byte is valid), integer types, IQ1_M (checked in firstInvalid)
        };
    }
}
