package dev.requant.formats.gguf;

import java.util.Objects;

/**
 * One typed GGUF metadata value. Integers of every width are held as a Long (UINT64 as its raw bits), FLOAT32 as
 * Float, FLOAT64 as Double, BOOL as Boolean, STRING as String and ARRAY as {@link GgufArray}; the declared type is kept
 * so a value is written back with the type it was read with.
 */
public record GgufValue(GgufValueType type, Object value) {
    public GgufValue {
        Objects.requireNonNull(type);
        Objects.requireNonNull(value);
        boolean ok = switch (type) {
            case UINT8, INT8, UINT16, INT16, UINT32, INT32, UINT64, INT64 -> value instanceof Long;
            case FLOAT32 -> value instanceof Float;
            case FLOAT64 -> value instanceof Double;
            case BOOL -> value instanceof Boolean;
            case STRING -> value instanceof String;
            case ARRAY -> value instanceof GgufArray;
        };
        if (!ok) throw new IllegalArgumentException(type + " value cannot hold " + value.getClass().getSimpleName());
        if (type.isInteger()) checkRange(type, (Long) value);
    }

    private static void checkRange(GgufValueType type, long v) {
        boolean ok = switch (type) {
            case UINT8 -> v >= 0 && v <= 0xFF;
            case INT8 -> v >= Byte.MIN_VALUE && v <= Byte.MAX_VALUE;
            case UINT16 -> v >= 0 && v <= 0xFFFF;
            case INT16 -> v >= Short.MIN_VALUE && v <= Short.MAX_VALUE;
            case UINT32 -> v >= 0 && v <= 0xFFFFFFFFL;
            case INT32 -> v >= Integer.MIN_VALUE && v <= Integer.MAX_VALUE;
            default -> true;
        };
        if (!ok) throw new IllegalArgumentException(v + " does not fit " + type);
    }

    public static GgufValue u8(long v) { return new GgufValue(GgufValueType.UINT8, v); }
    public static GgufValue i8(long v) { return new GgufValue(GgufValueType.INT8, v); }
    public static GgufValue u16(long v) { return new GgufValue(GgufValueType.UINT16, v); }
    public static GgufValue i16(long v) { return new GgufValue(GgufValueType.INT16, v); }
    public static GgufValue u32(long v) { return new GgufValue(GgufValueType.UINT32, v); }
    public static GgufValue i32(long v) { return new GgufValue(GgufValueType.INT32, v); }
    public static GgufValue u64(long v) { return new GgufValue(GgufValueType.UINT64, v); }
    public static GgufValue i64(long v) { return new GgufValue(GgufValueType.INT64, v); }
    public static GgufValue f32(float v) { return new GgufValue(GgufValueType.FLOAT32, v); }
    public static GgufValue f64(double v) { return new GgufValue(GgufValueType.FLOAT64, v); }
    public static GgufValue bool(boolean v) { return new GgufValue(GgufValueType.BOOL, v); }
    public static GgufValue string(String v) { return new GgufValue(GgufValueType.STRING, v); }
    public static GgufValue array(GgufArray v) { return new GgufValue(GgufValueType.ARRAY, v); }

    public long asLong() {
        if (!type.isInteger()) throw new IllegalStateException("not an integer: " + type);
        return (Long) value;
    }

    public float asFloat() {
        return switch (type) {
            case FLOAT32 -> (Float) value;
            case FLOAT64 -> (float) (double) (Double) value;
            default -> throw new IllegalStateException("not a float: " + type);
        };
    }

    public String asString() {
        if (type != GgufValueType.STRING) throw new IllegalStateException("not a string: " + type);
        return (String) value;
    }

    public boolean asBool() {
        if (type != GgufValueType.BOOL) throw new IllegalStateException("not a bool: " + type);
        return (Boolean) value;
    }

    public GgufArray asArray() {
        if (type != GgufValueType.ARRAY) throw new IllegalStateException("not an array: " + type);
        return (GgufArray) value;
    }
}
