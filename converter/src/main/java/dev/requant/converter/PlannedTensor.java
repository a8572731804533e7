package dev.requant.converter;

import dev.requant.formats.gguf.GgufTensorSpec;

/**
 * One line of a conversion plan: the GGUF tensor, where its values come from (the recipe: source tensors, transform,
 * dims) and the type decision (type, rule, encoder).
 */
public record PlannedTensor(String ggufName, String hfName, Integer blockId, TensorRecipe recipe, TypeDecision decision) {
    public GgufTensorSpec spec() {
        return new GgufTensorSpec(ggufName, decision.type(), recipe.ne());
    }

    public long elementCount() {
        long n = 1;
        for (long d : recipe.ne()) n = Math.multiplyExact(n, d);
        return n;
    }
}
