package dev.requant.converter;

import dev.requant.formats.ggml.GgmlType;
import java.util.Optional;
import java.util.Set;

/**
 * llama-quantize's --token-embedding-type and --output-tensor-type for conversion: the first applies to token_embd and
 * per_layer_token_embd, the second to output.weight. They come before every type rule but the F32 ones, so they also
 * override the QAT policy. A block type that does not divide the row length falls back to F16, as --type does.
 */
public final class TypeOverrides {
    public static final String TOKEN_EMBEDDING = "--token-embedding-type";
    public static final String OUTPUT_TENSOR = "--output-tensor-type";
    static final Set<String> EMBEDDINGS = Set.of("token_embd.weight", "per_layer_token_embd.weight");

    private TypeOverrides() {}

    /** The policy with the given overrides (null = not set) placed just before --type. */
    public static TypePolicy apply(TypePolicy policy, GgmlType tokenEmbedding, GgmlType output) {
        TypePolicy p = policy;
        if (tokenEmbedding != null) p = p.insertBefore(TypePolicy.OUT_TYPE, rule(TOKEN_EMBEDDING, tokenEmbedding, EMBEDDINGS));
        if (output != null) p = p.insertBefore(TypePolicy.OUT_TYPE, rule(OUTPUT_TENSOR, output, Set.of("output.weight")));
        return p;
    }

    private static TypeRule rule(String name, GgmlType type, Set<String> names) {
        return TypePolicy.rule(name, t -> {
            if (!names.contains(t.ggufName())) return Optional.empty();
            if (type.quantized() && t.rowLength() % type.blockSize() != 0) {
                return Optional.of(new TypeDecision(GgmlType.F16, name + " (f16: row " + t.rowLength() + " is not a multiple of " + type.blockSize() + ")"));
            }
            return Optional.of(new TypeDecision(type, name));
        });
    }
}
