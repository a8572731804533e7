package dev.requant.formats.safetensors;

import dev.requant.formats.ggml.BFloat16;
import dev.requant.formats.ggml.Float8;
import dev.requant.formats.io.LittleEndian;
import java.lang.foreign.MemorySegment;
import java.util.Optional;

/** The element types of the safetensors format, by the names its header uses. */
public enum SafetensorsDtype {
    F64(8), F32(4), F16(2), BF16(2), F8_E4M3(1), F8_E5M2(1),
    U8(1), I8(1), U16(2), I16(2), U32(4), I32(4), U64(8), I64(8), BOOL(1);

    private final int size;

    SafetensorsDtype(int size) { this.size = size; }

    /** Bytes per element. */
    public int size() { return size; }

    public static Optional<SafetensorsDtype> byName(String name) {
        for (SafetensorsDtype d : values()) if (d.name().equals(name)) return Optional.of(d);
        return Optional.empty();
    }

    public boolean isFloat() {
        return this == F64 || this == F32 || this == F16 || this == BF16 || this == F8_E4M3 || this == F8_E5M2;
    }

    /**
     * Decodes {@code n} elements starting at element {@code first} of {@code data} into {@code dst[off..]}.
     * Float types widen exactly (F64 rounds to nearest float); integer types convert by value.
     */
    public void toFloats(MemorySegment data, long first, float[] dst, int off, int n) {
        long base = first * size;
        switch (this) {
            case F32 -> MemorySegment.copy(data, LittleEndian.FLOAT, base, dst, off, n);
            case BF16 -> { for (int i = 0; i < n; i++) dst[off + i] = BFloat16.toFloat(data.get(LittleEndian.SHORT, base + 2L * i)); }
            case F16 -> { for (int i = 0; i < n; i++) dst[off + i] = Float.float16ToFloat(data.get(LittleEndian.SHORT, base + 2L * i)); }
            case F64 -> { for (int i = 0; i < n; i++) dst[off + i] = (float) data.get(LittleEndian.DOUBLE, base + 8L * i); }
            case F8_E4M3 -> { for (int i = 0; i < n; i++) dst[off + i] = Float8.e4m3ToFloat(data.get(LittleEndian.BYTE, base + i)); }
            case F8_E5M2 -> { for (int i = 0; i < n; i++) dst[off + i] = Float8.e5m2ToFloat(data.get(LittleEndian.BYTE, base + i)); }
            case U8, BOOL -> { for (int i = 0; i < n; i++) dst[off + i] = data.get(LittleEndian.BYTE, base + i) & 0xFF; }
            case I8 -> { for (int i = 0; i < n; i++) dst[off + i] = data.get(LittleEndian.BYTE, base + i); }
            case U16 -> { for (int i = 0; i < n; i++) dst[off + i] = data.get(LittleEndian.SHORT, base + 2L * i) & 0xFFFF; }
            case I16 -> { for (int i = 0; i < n; i++) dst[off + i] = data.get(LittleEndian.SHORT, base + 2L * i); }
            case U32 -> { for (int i = 0; i < n; i++) dst[off + i] = Integer.toUnsignedLong(data.get(LittleEndian.INT, base + 4L * i)); }
            case I32 -> { for (int i = 0; i < n; i++) dst[off + i] = data.get(LittleEndian.INT, base + 4L * i); }
            case U64 -> { for (int i = 0; i < n; i++) dst[off + i] = unsignedToFloat(data.get(LittleEndian.LONG, base + 8L * i)); }
            case I64 -> { for (int i = 0; i < n; i++) dst[off + i] = data.get(LittleEndian.LONG, base + 8L * i); }
        }
    }

    private static float unsignedToFloat(long v) {
        // Halve with the lost bit kept sticky, convert, double: rounds like a true unsigned conversion.
        return v >= 0 ? v : ((float) ((v >>> 1) | (v & 1))) * 2f;
    }
}
