package dev.requant.formats.gguf;

import java.util.Optional;

/** GGUF metadata value types (gguf.h enum gguf_type), stored as int32 in the file. */
public enum GgufValueType {
    UINT8(1), INT8(1), UINT16(2), INT16(2), UINT32(4), INT32(4), FLOAT32(4), BOOL(1), STRING(-1), ARRAY(-1),
    UINT64(8), INT64(8), FLOAT64(8);

    private static final GgufValueType[] BY_ID = values();

    private final int size;

    GgufValueType(int size) { this.size = size; }

    public int id() { return ordinal(); }

    /** Encoded size of one value, or -1 for STRING and ARRAY. */
    public int size() { return size; }

    /** Smallest possible encoding of one value, used to reject counts that cannot fit in the file. */
    int minEncodedSize() {
        return switch (this) {
            case STRING -> 8;          // uint64 length, possibly empty
            case ARRAY -> 4 + 8;       // nested: uint32 type + uint64 count
            default -> size;
        };
    }

    public boolean isInteger() {
        return switch (this) {
            case UINT8, INT8, UINT16, INT16, UINT32, INT32, UINT64, INT64 -> true;
            default -> false;
        };
    }

    public static Optional<GgufValueType> byId(int id) {
        return id >= 0 && id < BY_ID.length ? Optional.of(BY_ID[id]) : Optional.empty();
    }
}
