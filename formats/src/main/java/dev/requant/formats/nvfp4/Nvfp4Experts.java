package dev.requant.formats.nvfp4;

import java.util.List;

/**
 * The NVFP4 experts of one projection of one mixture-of-experts layer, whichever way the producer stored them: one
 * 2-D tensor per expert ({@code <layer>.experts.<e>.gate_proj.weight}, the ModelOpt and compressed-tensors exports of
 * Gemma 4 26B-A4B) or one 3-D tensor for all of them ({@code <layer>.experts.gate_up_proj.weight},
 * {@code [E, rows, cols/2]} codes, {@code [E, rows, cols/16]} block scales, a per-tensor scale per expert or one for
 * all). Either way each expert is an {@link Nvfp4Tensor} with its own per-tensor scale, in expert order.
 *
 * @param layerPrefix the checkpoint prefix of the experts, e.g. {@code model.language_model.layers.3.experts}
 * @param layer the layer index
 * @param projection {@code gate_proj}, {@code up_proj}, {@code down_proj} or (stacked only) {@code gate_up_proj}:
 *     gate rows then up rows of each expert, as transformers' Gemma 4 {@code chunk(2)} reads them
 * @param experts expert e at index e
 * @param stacked whether the checkpoint stored one 3-D tensor
 * @param storedWeights the checkpoint names of the codes tensor(s)
 */
public record Nvfp4Experts(String layerPrefix, int layer, String projection, List<Nvfp4Tensor> experts, boolean stacked,
                           List<String> storedWeights) {
    public Nvfp4Experts {
        experts = List.copyOf(experts);
        storedWeights = List.copyOf(storedWeights);
        if (experts.isEmpty()) throw new IllegalArgumentException(layerPrefix + ": no experts");
        Nvfp4Tensor first = experts.getFirst();
        for (Nvfp4Tensor t : experts) {
            if (t.rows() != first.rows() || t.cols() != first.cols()) {
                throw new IllegalArgumentException(layerPrefix + "." + projection + ": experts of different shapes");
            }
        }
    }

    public long rows() { return experts.getFirst().rows(); }

    public long cols() { return experts.getFirst().cols(); }

    public int count() { return experts.size(); }

    /** The first stored name (where the group sits in checkpoint order). */
    public String firstStoredName() { return storedWeights.getFirst(); }
}
