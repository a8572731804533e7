package dev.requant.formats.ggml;

import java.util.Locale;
import java.util.Optional;

/**
 * The GGML tensor types in ggml id order (ggml/include/ggml.h, enum ggml_type), so that {@code ordinal() == id}.
 * Removed ids keep their slot with block size 0, which readers reject like llama.cpp does.
 * Block size is elements per block, type size is bytes per block (ggml.c type_traits).
 */
public enum GgmlType {
    F32("f32", 1, 4),
    F16("f16", 1, 2),
    Q4_0("q4_0", 32, 18),
    Q4_1("q4_1", 32, 20),
    REMOVED_Q4_2("q4_2", 0, 0),
    REMOVED_Q4_3("q4_3", 0, 0),
    Q5_0("q5_0", 32, 22),
    Q5_1("q5_1", 32, 24),
    Q8_0("q8_0", 32, 34),
    Q8_1("q8_1", 32, 36),
    Q2_K("q2_K", 256, 84),
    Q3_K("q3_K", 256, 110),
    Q4_K("q4_K", 256, 144),
    Q5_K("q5_K", 256, 176),
    Q6_K("q6_K", 256, 210),
    Q8_K("q8_K", 256, 292),
    IQ2_XXS("iq2_xxs", 256, 66),
    IQ2_XS("iq2_xs", 256, 74),
    IQ3_XXS("iq3_xxs", 256, 98),
    IQ1_S("iq1_s", 256, 50),
    IQ4_NL("iq4_nl", 32, 18),
    IQ3_S("iq3_s", 256, 110),
    IQ2_S("iq2_s", 256, 82),
    IQ4_XS("iq4_xs", 256, 136),
    I8("i8", 1, 1),
    I16("i16", 1, 2),
    I32("i32", 1, 4),
    I64("i64", 1, 8),
    F64("f64", 1, 8),
    IQ1_M("iq1_m", 256, 56),
    BF16("bf16", 1, 2),
    REMOVED_Q4_0_4_4("q4_0_4_4", 0, 0),
    REMOVED_Q4_0_4_8("q4_0_4_8", 0, 0),
    REMOVED_Q4_0_8_8("q4_0_8_8", 0, 0),
    TQ1_0("tq1_0", 256, 54),
    TQ2_0("tq2_0", 256, 66),
    REMOVED_IQ4_NL_4_4("iq4_nl_4_4", 0, 0),
    REMOVED_IQ4_NL_4_8("iq4_nl_4_8", 0, 0),
    REMOVED_IQ4_NL_8_8("iq4_nl_8_8", 0, 0),
    MXFP4("mxfp4", 32, 17),
    NVFP4("nvfp4", 64, 36),
    Q1_0("q1_0", 128, 18),
    Q2_0("q2_0", 64, 18);

    /** GGML_TYPE_COUNT: ids at or above this are not types. */
    public static final int COUNT = 43;

    private static final GgmlType[] BY_ID = values();

    private final String ggmlName;
    private final int blockSize;
    private final int typeSize;

    GgmlType(String ggmlName, int blockSize, int typeSize) {
        this.ggmlName = ggmlName;
        this.blockSize = blockSize;
        this.typeSize = typeSize;
    }

    public int id() { return ordinal(); }

    /** The name ggml_type_name() returns, e.g. "q4_0", "q6_K", "bf16". */
    public String ggmlName() { return ggmlName; }

    /** Elements per block; 0 for removed types. */
    public int blockSize() { return blockSize; }

    /** Bytes per block; 0 for removed types. */
    public int typeSize() { return typeSize; }

    public boolean removed() { return blockSize == 0; }

    /** True for block-quantized types (block size above 1). */
    public boolean quantized() { return blockSize > 1; }

    /** True for the plain float types F32, F16, BF16 and F64. */
    public boolean isFloat() { return this == F32 || this == F16 || this == BF16 || this == F64; }

    /** Bytes of a row of {@code n} elements; requires {@code n % blockSize() == 0}. */
    public long rowBytes(long n) {
        if (removed()) throw new IllegalStateException("removed GGML type " + ggmlName);
        if (n % blockSize != 0) {
            throw new IllegalArgumentException(
                    "row length " + n + " is not a multiple of the " + ggmlName + " block size " + blockSize);
        }
        return Math.multiplyExact(n / blockSize, (long) typeSize);
    }

    /** The type with this ggml id, if the id is in range (removed types included). */
    public static Optional<GgmlType> byId(int id) {
        return id >= 0 && id < COUNT ? Optional.of(BY_ID[id]) : Optional.empty();
    }

    /**
     * The type with this ggml name, case-insensitive ("Q4_0", "q6_k", "BF16"), as llama-quantize parses type names.
     * Removed types are not found.
     */
    public static Optional<GgmlType> byName(String name) {
        String n = name.toLowerCase(Locale.ROOT);
        for (GgmlType t : BY_ID) {
            if (!t.removed() && t.ggmlName.toLowerCase(Locale.ROOT).equals(n)) return Optional.of(t);
        }
        return Optional.empty();
    }

    @Override
    public String toString() { return name(); }
}
