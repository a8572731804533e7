package dev.requant.formats.gguf;

import dev.requant.formats.io.Utf8StringList;
import java.util.Arrays;
import java.util.List;
import java.util.Objects;

/**
 * A GGUF array value. Elements are held in a primitive array chosen by the element type, so a 262k-entry token list
 * costs what its values cost: UINT8/INT8 byte[], UINT16/INT16 short[], UINT32/INT32 int[], UINT64/INT64 long[],
 * FLOAT32 float[], FLOAT64 double[], BOOL boolean[], STRING {@link Utf8StringList} (given as String[] too), ARRAY
 * GgufArray[] (nested; read only).
 */
public final class GgufArray {
    private final GgufValueType elementType;
    private final Object values;
    /** {@link #strings()}, made on its first call. */
    private volatile String[] strings;

    public GgufArray(GgufValueType elementType, Object values) {
        if (elementType == GgufValueType.STRING && values instanceof String[] a) values = Utf8StringList.of(a);
        Class<?> expected = switch (elementType) {
            case UINT8, INT8 -> byte[].class;
            case UINT16, INT16 -> short[].class;
            case UINT32, INT32 -> int[].class;
            case UINT64, INT64 -> long[].class;
            case FLOAT32 -> float[].class;
            case FLOAT64 -> double[].class;
            case BOOL -> boolean[].class;
            case STRING -> Utf8StringList.class;
            case ARRAY -> GgufArray[].class;
        };
        if (!expected.isInstance(values)) {
            throw new IllegalArgumentException(elementType + " array needs " + expected.getSimpleName());
        }
        this.elementType = elementType;
        this.values = values;
    }

    public static GgufArray ofStrings(String... v) { return new GgufArray(GgufValueType.STRING, v); }
    public static GgufArray ofStrings(List<String> v) { return new GgufArray(GgufValueType.STRING, Utf8StringList.of(v)); }
    public static GgufArray ofInt32(int... v) { return new GgufArray(GgufValueType.INT32, v); }
    public static GgufArray ofUInt32(int... v) { return new GgufArray(GgufValueType.UINT32, v); }
    public static GgufArray ofFloat32(float... v) { return new GgufArray(GgufValueType.FLOAT32, v); }
    public static GgufArray ofBool(boolean... v) { return new GgufArray(GgufValueType.BOOL, v); }

    public GgufValueType elementType() { return elementType; }

    /** The backing primitive array (not copied); for STRING the {@link Utf8StringList}. */
    public Object values() { return values; }

    public int length() {
        return values instanceof Utf8StringList l ? l.size() : java.lang.reflect.Array.getLength(values);
    }

    /** A STRING array's elements, decoded once (for the vocabulary's hundreds of thousands, {@link #stringList}). */
    public String[] strings() {
        String[] s = strings;
        if (s == null) strings = s = stringList().toArray(String[]::new);
        return s;
    }

    /** A STRING array's elements, each decoded when read. */
    public Utf8StringList stringList() { return (Utf8StringList) values; }
    public int[] ints() { return (int[]) values; }
    public long[] longs() { return (long[]) values; }
    public float[] floats() { return (float[]) values; }
    public double[] doubles() { return (double[]) values; }
    public boolean[] bools() { return (boolean[]) values; }
    public byte[] bytes() { return (byte[]) values; }
    public short[] shorts() { return (short[]) values; }
    public GgufArray[] arrays() { return (GgufArray[]) values; }

    /** Element i as a plain Java value: Long for integers (unsigned types zero-extended), Float, Double, Boolean, String. */
    public Object get(int i) {
        return switch (elementType) {
            case UINT8 -> (long) (bytes()[i] & 0xFF);
            case INT8 -> (long) bytes()[i];
            case UINT16 -> (long) (shorts()[i] & 0xFFFF);
            case INT16 -> (long) shorts()[i];
            case UINT32 -> Integer.toUnsignedLong(ints()[i]);
            case INT32 -> (long) ints()[i];
            case UINT64, INT64 -> longs()[i];
            case FLOAT32 -> floats()[i];
            case FLOAT64 -> doubles()[i];
            case BOOL -> bools()[i];
            case STRING -> stringList().get(i);
            case ARRAY -> arrays()[i];
        };
    }

    boolean containsNested() { return elementType == GgufValueType.ARRAY; }

    @Override
    public boolean equals(Object o) {
        if (!(o instanceof GgufArray a) || a.elementType != elementType) return false;
        return Objects.deepEquals(values, a.values);
    }

    @Override
    public int hashCode() {
        return 31 * elementType.hashCode() + Arrays.deepHashCode(new Object[] {values});
    }

    @Override
    public String toString() {
        return elementType + "[" + length() + "]";
    }
}
