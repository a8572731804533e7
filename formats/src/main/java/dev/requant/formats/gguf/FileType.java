package dev.requant.formats.gguf;

import dev.requant.formats.ggml.GgmlType;
import java.util.Arrays;
import java.util.List;
import java.util.Locale;
import java.util.Optional;
import java.util.stream.Collectors;

/**
 * The one table of GGUF file types ({@code general.file_type}, llama.cpp's {@code llama_ftype}): every type the pinned
 * llama-quantize accepts, in the order of its help ({@code QUANT_OPTIONS} in tools/quantize/quantize.cpp), with
 *
 * <ul>
 *   <li>the {@code llama_ftype} id (include/llama.h),
 *   <li>the per-tensor default type ({@code llama_ftype_get_default_type} in src/llama-quant.cpp),
 *   <li>whether llama-quantize refuses it without an importance matrix ({@code tensor_requires_imatrix}: the default
 *       type is IQ1_S, IQ1_M, IQ2_XXS, IQ2_XS, IQ2_S or IQ3_XXS, or Q2_K inside the Q2_K_S mix),
 *   <li>whether this build of requant can produce it ({@code quantize}, the queue), and whether {@code convert --type}
 *       writes it straight from a checkpoint,
 *   <li>llama-quantize's one-line description (size in bits per weight, or size and perplexity on Llama-3-8B).
 * </ul>
 *
 * {@code quantize}, {@code convert --type}, {@code queue add} and the help texts all read this table, so a type is
 * accepted or refused the same way everywhere. A row's {@code producible} flag is checked against the quantizer by a
 * test in the converter module (a producible type quantizes, an unproducible one is refused up front).
 */
public enum FileType {
    Q1_0(40, GgmlType.Q1_0, false, false, false, " 1.125 bpw quantization"),
    Q2_0(41, GgmlType.Q2_0, false, false, false, " 2.25 bpw quantization (group 64)"),
    Q4_0(2, GgmlType.Q4_0, false, true, true, " 4.34G, +0.4685 ppl @ Llama-3-8B"),
    Q4_1(3, GgmlType.Q4_1, false, true, false, " 4.78G, +0.4511 ppl @ Llama-3-8B"),
    MXFP4_MOE(38, GgmlType.MXFP4, false, true, false, " MXFP4 MoE"),
    Q5_0(8, GgmlType.Q5_0, false, true, false, " 5.21G, +0.1316 ppl @ Llama-3-8B"),
    Q5_1(9, GgmlType.Q5_1, false, true, false, " 5.65G, +0.1062 ppl @ Llama-3-8B"),
    IQ2_XXS(19, GgmlType.IQ2_XXS, true, false, false, " 2.06 bpw quantization"),
    IQ2_XS(20, GgmlType.IQ2_XS, true, false, false, " 2.31 bpw quantization"),
    IQ2_S(28, GgmlType.IQ2_XS, true, false, false, " 2.5  bpw quantization"),
    IQ2_M(29, GgmlType.IQ2_S, true, false, false, " 2.7  bpw quantization"),
    IQ1_S(24, GgmlType.IQ1_S, true, false, false, " 1.56 bpw quantization"),
    IQ1_M(31, GgmlType.IQ1_M, true, false, false, " 1.75 bpw quantization"),
    TQ1_0(36, GgmlType.TQ1_0, false, false, false, " 1.69 bpw ternarization"),
    TQ2_0(37, GgmlType.TQ2_0, false, false, false, " 2.06 bpw ternarization"),
    Q2_K(10, GgmlType.Q2_K, false, false, false, " 2.96G, +3.5199 ppl @ Llama-3-8B"),
    Q2_K_S(21, GgmlType.Q2_K, true, false, false, " 2.96G, +3.1836 ppl @ Llama-3-8B"),
    IQ3_XXS(23, GgmlType.IQ3_XXS, true, false, false, " 3.06 bpw quantization"),
    IQ3_S(26, GgmlType.IQ3_S, false, false, false, " 3.44 bpw quantization"),
    IQ3_M(27, GgmlType.IQ3_S, false, false, false, " 3.66 bpw quantization mix"),
    IQ3_XS(22, GgmlType.IQ3_S, false, false, false, " 3.3 bpw quantization"),
    Q3_K_S(11, GgmlType.Q3_K, false, false, false, " 3.41G, +1.6321 ppl @ Llama-3-8B"),
    Q3_K_M(12, GgmlType.Q3_K, false, false, false, " 3.74G, +0.6569 ppl @ Llama-3-8B"),
    Q3_K_L(13, GgmlType.Q3_K, false, false, false, " 4.03G, +0.5562 ppl @ Llama-3-8B"),
    IQ4_NL(25, GgmlType.IQ4_NL, false, false, false, " 4.50 bpw non-linear quantization"),
    IQ4_XS(30, GgmlType.IQ4_XS, false, false, false, " 4.25 bpw non-linear quantization"),
    Q4_K_S(14, GgmlType.Q4_K, false, true, false, " 4.37G, +0.2689 ppl @ Llama-3-8B"),
    Q4_K_M(15, GgmlType.Q4_K, false, true, false, " 4.58G, +0.1754 ppl @ Llama-3-8B"),
    Q5_K_S(16, GgmlType.Q5_K, false, true, false, " 5.21G, +0.1049 ppl @ Llama-3-8B"),
    Q5_K_M(17, GgmlType.Q5_K, false, true, false, " 5.33G, +0.0569 ppl @ Llama-3-8B"),
    Q6_K(18, GgmlType.Q6_K, false, true, false, " 6.14G, +0.0217 ppl @ Llama-3-8B"),
    Q8_0(7, GgmlType.Q8_0, false, true, true, " 7.96G, +0.0026 ppl @ Llama-3-8B"),
    F16(1, GgmlType.F16, false, true, true, "14.00G, +0.0020 ppl @ Mistral-7B"),
    BF16(32, GgmlType.BF16, false, true, true, "14.00G, -0.0050 ppl @ Mistral-7B"),
    F32(0, GgmlType.F32, false, true, true, "26.00G              @ 7B");

    /** llama-quantize's aliases: the name of a mix without its size letter means the _M mix. */
    private static final List<String[]> ALIASES = List.of(new String[] {"Q3_K", "Q3_K_M"}, new String[] {"Q4_K", "Q4_K_M"},
            new String[] {"Q5_K", "Q5_K_M"});

    private final int id;
    private final GgmlType defaultType;
    private final boolean needsImatrix;
    private final boolean producible;
    private final boolean convertible;
    private final String description;

    FileType(int id, GgmlType defaultType, boolean needsImatrix, boolean producible, boolean convertible, String description) {
        this.id = id;
        this.defaultType = defaultType;
        this.needsImatrix = needsImatrix;
        this.producible = producible;
        this.convertible = convertible;
        this.description = description;
    }

    /** The llama_ftype value written as general.file_type. */
    public int id() { return id; }

    /** The type every eligible tensor gets before the per-tensor rules. */
    public GgmlType defaultType() { return defaultType; }

    /** Whether llama-quantize refuses this type without an importance matrix. */
    public boolean needsImatrix() { return needsImatrix; }

    /** Whether this build's {@code quantize} (and so the queue) can write this type. */
    public boolean producible() { return producible; }

    /** Whether {@code convert --type} writes this type directly from a checkpoint (as convert_hf_to_gguf.py --outtype). */
    public boolean convertible() { return convertible; }

    /** llama-quantize's help line for the type. */
    public String description() { return description; }

    /** The name as {@code convert --type} spells it (lower case, as convert_hf_to_gguf.py's --outtype). */
    public String cliName() { return name().toLowerCase(Locale.ROOT); }

    /**
     * A type as llama-quantize parses its TYPE argument ({@code try_parse_ftype}): a name, case-insensitive, including
     * the aliases Q3_K, Q4_K and Q5_K; or the numeric llama_ftype.
     */
    public static Optional<FileType> parse(String s) {
        String u = s.trim().toUpperCase(Locale.ROOT);
        for (String[] a : ALIASES) if (a[0].equals(u)) u = a[1];
        for (FileType t : values()) if (t.name().equals(u)) return Optional.of(t);
        try {
            int id = Integer.parseInt(u);
            for (FileType t : values()) if (t.id == id) return Optional.of(t);
        } catch (NumberFormatException ignored) {
            // not a number either
        }
        return Optional.empty();
    }

    /** The type written to general.file_type with this id, if any. */
    public static Optional<FileType> byId(long id) {
        return Arrays.stream(values()).filter(t -> t.id == id).findFirst();
    }

    /** The types this build can produce, for help and errors: "Q4_0, Q4_1, ...". */
    public static String producibleNames() {
        return Arrays.stream(values()).filter(FileType::producible).map(Enum::name).collect(Collectors.joining(", "));
    }

    /** The types {@code convert --type} takes, lower case, for help and errors. */
    public static String convertibleNames() {
        return Arrays.stream(values()).filter(FileType::convertible).map(FileType::cliName).collect(Collectors.joining(", "));
    }

    /** The message for a type this build cannot make: names what it can. */
    public String notProducibleMessage() {
        return name() + " cannot be made by this build of requant (it can make " + producibleNames() + ")";
    }
}
