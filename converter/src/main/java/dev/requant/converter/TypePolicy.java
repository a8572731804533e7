package dev.requant.converter;

import dev.requant.formats.ggml.GgmlType;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;
import java.util.Set;

/**
 * The ordered type rules of a conversion; the first rule that decides wins. The defaults are convert_hf_to_gguf.py's
 * (conversion/base.py prepare_tensors): 1-D tensors and norms are F32, router weights and non-".weight" tensors are
 * F32, everything else takes --type, and a quantized type that does not fit a row falls back to F16. Other options
 * (--token-embedding-type, QAT lattice encoders) insert their own rules by name.
 */
public final class TypePolicy {
    public static final String F32_VECTORS_AND_NORMS = "f32: 1-D or *_norm.weight";
    public static final String F32_KINDS = "f32: router / not .weight";
    public static final String OUT_TYPE = "--type";
    /** The names of the rules of {@link #defaults()}. */
    public static final Set<String> DEFAULT_NAMES = Set.of(F32_VECTORS_AND_NORMS, F32_KINDS, OUT_TYPE);

    private final List<TypeRule> rules;

    private TypePolicy(List<TypeRule> rules) {
        this.rules = List.copyOf(rules);
    }

    public static TypePolicy defaults() {
        return new TypePolicy(List.of(vectorsAndNorms(), f32Kinds(), outType()));
    }

    public List<TypeRule> rules() { return rules; }

    /** A policy with {@code rule} placed just before the rule named {@code anchor}. */
    public TypePolicy insertBefore(String anchor, TypeRule rule) {
        return insert(anchor, rule, 0);
    }

    /** A policy with {@code rule} placed just after the rule named {@code anchor}. */
    public TypePolicy insertAfter(String anchor, TypeRule rule) {
        return insert(anchor, rule, 1);
    }

    private TypePolicy insert(String anchor, TypeRule rule, int delta) {
        List<TypeRule> r = new ArrayList<>(rules);
        for (int i = 0; i < r.size(); i++) {
            if (r.get(i).name().equals(anchor)) {
                r.add(i + delta, rule);
                return new TypePolicy(r);
            }
        }
        throw new IllegalArgumentException("no type rule named '" + anchor + "'");
    }

    public TypeDecision decide(TensorCandidate t) {
        for (TypeRule r : rules) {
            Optional<TypeDecision> d = r.decide(t);
            if (d.isPresent()) return d.get();
        }
        throw new IllegalStateException("no type rule decided " + t.ggufName());
    }

    /** n_dims <= 1 or a name ending in _norm.weight: F32 ("most of the codebase that takes in 1D tensors or norms only handles F32"). */
    static TypeRule vectorsAndNorms() {
        return rule(F32_VECTORS_AND_NORMS, t -> t.nDims() <= 1 || t.ggufName().endsWith("_norm.weight")
                ? Optional.of(new TypeDecision(GgmlType.F32, F32_VECTORS_AND_NORMS)) : Optional.empty());
    }

    /** Kinds llama.cpp keeps in F32 (FFN_GATE_INP and friends), and anything not named .weight (scales). */
    static TypeRule f32Kinds() {
        Set<String> kinds = Set.of("ffn_gate_inp.weight", "ffn_gate_inp_shexp.weight", "position_embd.weight", "token_types.weight");
        return rule(F32_KINDS, t -> {
            String n = t.ggufName();
            boolean weightLike = n.endsWith(".weight") || n.endsWith(".lora_a") || n.endsWith(".lora_b");
            return kinds.contains(t.kind()) || !weightLike ? Optional.of(new TypeDecision(GgmlType.F32, F32_KINDS)) : Optional.empty();
        });
    }

    /** The --type for everything else; a block type whose block does not divide the row length falls back to F16. */
    static TypeRule outType() {
        return rule(OUT_TYPE, t -> {
            GgmlType type = t.settings().outType().defaultType();
            if (type.quantized() && t.rowLength() % type.blockSize() != 0) {
                return Optional.of(new TypeDecision(GgmlType.F16, OUT_TYPE + " (f16: row " + t.rowLength() + " is not a multiple of " + type.blockSize() + ")"));
            }
            return Optional.of(new TypeDecision(type, OUT_TYPE));
        });
    }

    /** A rule from a name and a function. */
    public static TypeRule rule(String name, java.util.function.Function<TensorCandidate, Optional<TypeDecision>> f) {
        return new TypeRule() {
            @Override public String name() { return name; }

            @Override public Optional<TypeDecision> decide(TensorCandidate t) { return f.apply(t); }

            @Override public String toString() { return name; }
        };
    }
}
