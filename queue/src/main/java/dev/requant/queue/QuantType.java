package dev.requant.queue;

import java.util.Arrays;
import java.util.Locale;
import java.util.Optional;
import java.util.stream.Collectors;

/**
 * The quantization types a job can ask for: the names llama-quantize accepts ({@code QUANT_OPTIONS} in
 * tools/quantize/quantize.cpp), without COPY. The aliases Q3_K, Q4_K and Q5_K resolve to their _M mixes, as in
 * llama-quantize. Output files are named {@code MODEL-NAME.gguf} with the canonical name.
 */
public enum QuantType {
    Q1_0, Q2_0, Q4_0, Q4_1, MXFP4_MOE, Q5_0, Q5_1,
    IQ2_XXS(true), IQ2_XS(true), IQ2_S(true), IQ2_M(true), IQ1_S(true), IQ1_M(true),
    TQ1_0, TQ2_0, Q2_K, Q2_K_S(true),
    IQ3_XXS(true), IQ3_S, IQ3_M, IQ3_XS, Q3_K_S, Q3_K_M, Q3_K_L,
    IQ4_NL, IQ4_XS, Q4_K_S, Q4_K_M, Q5_K_S, Q5_K_M, Q6_K, Q8_0,
    F16, BF16, F32;

    private final boolean needsImatrix;

    QuantType() { this(false); }

    QuantType(boolean needsImatrix) { this.needsImatrix = needsImatrix; }

    /**
     * Whether llama-quantize refuses this type without an importance matrix: its default tensor type is one that
     * {@code tensor_requires_imatrix} (src/llama-quant.cpp) lists (IQ1_S, IQ1_M, IQ2_XXS, IQ2_XS, IQ2_S, IQ3_XXS),
     * or Q2_K inside the Q2_K_S mix.
     */
    public boolean needsImatrix() { return needsImatrix; }

    /** Case-insensitive, as llama-quantize matches; aliases resolve to the mix they stand for. */
    public static Optional<QuantType> parse(String name) {
        String n = name.trim().toUpperCase(Locale.ROOT);
        switch (n) {
            case "Q3_K": return Optional.of(Q3_K_M);
            case "Q4_K": return Optional.of(Q4_K_M);
            case "Q5_K": return Optional.of(Q5_K_M);
            default:
        }
        return Arrays.stream(values()).filter(t -> t.name().equals(n)).findFirst();
    }

    /** All names, for error messages. */
    public static String names() {
        return Arrays.stream(values()).map(Enum::name).collect(Collectors.joining(", "));
    }
}
