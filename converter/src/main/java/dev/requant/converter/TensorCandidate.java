package dev.requant.converter;

/**
 * What a type rule sees of a tensor: its GGUF name, the HF name it came from, its block id (layer, or null), the
 * recipe (dims, source type) and the conversion settings.
 */
public record TensorCandidate(String ggufName, String hfName, Integer blockId, TensorRecipe recipe, ConversionSettings settings) {
    public int nDims() { return recipe.nDims(); }

    public long rowLength() { return recipe.rowLength(); }

    /** The GGUF name without its block prefix: "blk.3.attn_q.weight" gives "attn_q.weight". */
    public String kind() {
        if (ggufName.startsWith("blk.")) {
            int dot = ggufName.indexOf('.', 4);
            return dot < 0 ? ggufName : ggufName.substring(dot + 1);
        }
        return ggufName;
    }
}
