package dev.requant.converter.quantize;

import dev.requant.formats.ggml.GgmlType;
import java.util.Locale;
import java.util.Optional;

/**
 * The file types {@code requant quantize} writes: llama.cpp's llama_ftype values (include/llama.h) with their default
 * tensor type (llama_ftype_get_default_type in src/llama-quant.cpp) and the names llama-quantize accepts
 * (QUANT_OPTIONS in tools/quantize/quantize.cpp, including the aliases Q4_K = Q4_K_M and Q5_K = Q5_K_M).
 */
public enum QuantFileType {
    F32(0, GgmlType.F32),
    F16(1, GgmlType.F16),
    Q4_0(2, GgmlType.Q4_0),
    Q4_1(3, GgmlType.Q4_1),
    Q8_0(7, GgmlType.Q8_0),
    Q5_0(8, GgmlType.Q5_0),
    Q5_1(9, GgmlType.Q5_1),
    Q4_K_S(14, GgmlType.Q4_K),
    Q4_K_M(15, GgmlType.Q4_K),
    Q5_K_S(16, GgmlType.Q5_K),
    Q5_K_M(17, GgmlType.Q5_K),
    Q6_K(18, GgmlType.Q6_K),
    BF16(32, GgmlType.BF16),
    MXFP4_MOE(38, GgmlType.MXFP4);

    private final int id;
    private final GgmlType defaultType;

    QuantFileType(int id, GgmlType defaultType) {
        this.id = id;
        this.defaultType = defaultType;
    }

    /** The llama_ftype value written as general.file_type. */
    public int id() { return id; }

    /** The type every eligible tensor gets before the per-tensor rules. */
    public GgmlType defaultType() { return defaultType; }

    /**
     * A type as llama-quantize parses its TYPE argument (try_parse_ftype): a name, case-insensitive, including the
     * aliases Q4_K and Q5_K; or the numeric llama_ftype.
     */
    public static Optional<QuantFileType> parse(String s) {
        String u = s.trim().toUpperCase(Locale.ROOT);
        switch (u) {
            case "Q4_K": return Optional.of(Q4_K_M);
            case "Q5_K": return Optional.of(Q5_K_M);
            default: break;
        }
        for (QuantFileType t : values()) if (t.name().equals(u)) return Optional.of(t);
        try {
            int id = Integer.parseInt(u);
            for (QuantFileType t : values()) if (t.id == id) return Optional.of(t);
        } catch (NumberFormatException ignored) {
            // not a number either
        }
        return Optional.empty();
    }

    /** The names accepted, for help and errors. */
    public static String names() {
        StringBuilder sb = new StringBuilder();
        for (QuantFileType t : values()) {
            if (!sb.isEmpty()) sb.append(", ");
            sb.append(t.name());
        }
        return sb.append(" (Q4_K = Q4_K_M, Q5_K = Q5_K_M)").toString();
    }
}
