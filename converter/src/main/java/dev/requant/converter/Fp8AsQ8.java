package dev.requant.converter;

import dev.requant.formats.ggml.GgmlType;
import java.util.Optional;

/**
 * convert_hf_to_gguf.py's {@code --fp8-as-q8}: weights a checkpoint stored in FP8 (2-D and more) become Q8_0 whatever
 * --type says (Q8_0 holds FP8 values with little loss and runs faster than F16/BF16); norms stay F32, and a row
 * that is not whole Q8_0 blocks falls back to F16, as gguf-py's QuantError does.
 */
public final class Fp8AsQ8 {
    public static final String RULE = "fp8: q8_0 (--fp8-as-q8)";

    private Fp8AsQ8() {}

    /** The policy with the rule right after the F32 rule for vectors and norms (tensor_force_quant's place). */
    public static TypePolicy apply(TypePolicy p) {
        return p.insertAfter(TypePolicy.F32_VECTORS_AND_NORMS, TypePolicy.rule(RULE, t -> {
            if (!(t.recipe() instanceof QuantizedDequant q) || q.fp8() == null || t.nDims() < 2) return Optional.empty();
            if (t.rowLength() % GgmlType.Q8_0.blockSize() != 0) {
                return Optional.of(new TypeDecision(GgmlType.F16, RULE + " (f16: row " + t.rowLength() + " is not a multiple of 32)"));
            }
            return Optional.of(new TypeDecision(GgmlType.Q8_0, RULE));
        }));
    }
}
