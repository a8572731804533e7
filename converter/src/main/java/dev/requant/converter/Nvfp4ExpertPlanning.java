package dev.requant.converter;

import dev.requant.formats.FormatException;
import dev.requant.formats.nvfp4.BlockScaleCensus;
import dev.requant.formats.nvfp4.Nvfp4Experts;
import dev.requant.formats.nvfp4.Nvfp4Tensor;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

/**
 * The GGUF tensors of NVFP4 mixture-of-experts weights (Gemma 4 26B-A4B's ModelOpt and compressed-tensors exports),
 * as convert_hf_to_gguf.py writes them (base.py _generate_nvfp4_tensors / _flush_nvfp4_experts, gemma.py's
 * per-expert-scale fold):
 * <ul>
 *   <li>each projection's experts stacked into one NVFP4 tensor, {@code blk.N.ffn_{gate,up,down}_exps.weight},
 *       {@code ne = {cols, rows, E}}, codes and block scales moved, not recomputed;</li>
 *   <li>the per-expert per-tensor scales in {@code .scale} (F32 {@code [E]}) and the activation scales in
 *       {@code .input_scale}, each written only when not all 1 (within 1e-6);</li>
 *   <li>Gemma 4's {@code router.per_expert_scale[e]} multiplied into expert e's down-projection scale (the graph
 *       multiplies the down output by {@code ffn_down_exps.scale[e]}, which is where HF applies the router's
 *       per-expert scale), so it is not written on its own;</li>
 *   <li>a stacked {@code experts.gate_up_proj} (gate rows, then up rows, per expert) split into gate and up: this
 *       llama.cpp loads per-expert scales for ffn_gate_exps and ffn_up_exps but has none for ffn_gate_up_exps.</li>
 * </ul>
 * Any other --type dequantizes the experts (each with its own scale; the router scale then stays
 * {@code ffn_down_exps.scale}, as for a BF16 checkpoint).
 */
final class Nvfp4ExpertPlanning {
    private Nvfp4ExpertPlanning() {}

    /**
     * @param perExpertScale Gemma 4's router.per_expert_scale of this layer, folded into down projections (kept
     *     NVFP4 only), or null
     */
    static List<Nvfp4Planning.Planned> plan(Nvfp4Experts g, boolean keep, float[] perExpertScale, Path file) throws FormatException {
        List<Nvfp4Planning.Planned> out = new ArrayList<>();
        String blk = "blk." + g.layer() + ".";
        if (g.projection().equals("gate_up_proj")) {
            if (g.rows() % 2 != 0) throw new FormatException(file, g.layerPrefix() + ".gate_up_proj has " + g.rows() + " rows, not gate and up halves");
            long half = g.rows() / 2;
            out.addAll(part(g, blk + "ffn_gate_exps", slice(g.experts(), 0, half), keep, null, file, " (gate half of gate_up_proj)"));
            out.addAll(part(g, blk + "ffn_up_exps", slice(g.experts(), half, half), keep, null, file, " (up half of gate_up_proj)"));
            return out;
        }
        String kind = switch (g.projection()) {
            case "gate_proj" -> "ffn_gate_exps";
            case "up_proj" -> "ffn_up_exps";
            default -> "ffn_down_exps";
        };
        return part(g, blk + kind, g.experts(), keep, kind.equals("ffn_down_exps") ? perExpertScale : null, file, "");
    }

    private static List<Nvfp4Planning.Planned> part(Nvfp4Experts g, String base, List<Nvfp4Tensor> experts, boolean keep, float[] fold, Path file,
                                                    String note) throws FormatException {
        String name = base + ".weight";
        if (!keep) return List.of(new Nvfp4Planning.Planned(name, new Nvfp4ExpertsDequant(experts, g.storedWeights())));
        int n = experts.size();
        if (fold != null && fold.length != n) throw new FormatException(file, g.layerPrefix() + ": router.per_expert_scale has " + fold.length + " values for " + n + " experts");
        float[] scales = new float[n], inputs = new float[n];
        boolean anyInput = false;
        for (int e = 0; e < n; e++) {
            Nvfp4Tensor t = experts.get(e);
            if (t.cols() % 64 != 0) throw new FormatException(file, t.weightName() + ": rows of " + t.cols() + " values are not whole GGML NVFP4 blocks of 64");
            BlockScaleCensus c = BlockScaleCensus.of(t);
            if (!c.valid()) {
                throw new FormatException(file, "tensor '" + t.weightName() + "' (expert " + e + ") has " + c.nan() + " NaN and " + c.negative()
                        + " negative block scales; run requant verify-fp4 on it");
            }
            float m = t.weightScale().multiplier();
            if (!t.weightScale().isValid() || !Float.isFinite(m) || m <= 0f) {
                throw new FormatException(file, "tensor '" + t.weightName() + "' (expert " + e + ") has per-tensor scale " + t.weightScale().value() + "; it must be finite and positive");
            }
            if (fold != null) {
                if (!(Float.isFinite(fold[e]) && fold[e] > 0f)) throw new FormatException(file, g.layerPrefix() + ": router.per_expert_scale[" + e + "] is " + fold[e]);
                m *= fold[e];
            }
            scales[e] = m;
            if (t.inputScale() != null) {
                anyInput = true;
                inputs[e] = t.inputScale().multiplier();
            } else {
                inputs[e] = 1f;
            }
        }
        List<Nvfp4Planning.Planned> out = new ArrayList<>();
        String what = "NVFP4 repack, " + n + " experts stacked" + note + (fold != null ? ", router.per_expert_scale folded into .scale" : "");
        out.add(new Nvfp4Planning.Planned(name, new Nvfp4ExpertsRepack(experts, scales, g.storedWeights(), what)));
        if (!allOne(scales)) out.add(new Nvfp4Planning.Planned(base + ".scale", new GeneratedTensor("per-expert scales of " + g.layerPrefix() + note, scales, n)));
        if (anyInput && !allOne(inputs)) out.add(new Nvfp4Planning.Planned(base + ".input_scale", new GeneratedTensor("per-expert activation scales" + note, inputs, n)));
        return out;
    }

    /** numpy.allclose(scales, 1.0, atol=1e-6) with rtol 1e-5, as _write_scales_tensor tests it. */
    private static boolean allOne(float[] v) {
        for (float x : v) if (!(Math.abs(x - 1.0) <= 1e-6 + 1e-5)) return false;
        return true;
    }

    private static List<Nvfp4Tensor> slice(List<Nvfp4Tensor> experts, long first, long count) {
        List<Nvfp4Tensor> out = new ArrayList<>();
        for (Nvfp4Tensor t : experts) {
            long pRow = t.cols() / 2, sRow = t.cols() / Nvfp4Tensor.BLOCK;
            out.add(new Nvfp4Tensor(t.module(), t.weightName(), count, t.cols(), t.packed().asSlice(first * pRow, count * pRow),
                    t.scales().asSlice(first * sRow, count * sRow), t.weightScale(), t.inputScale()));
        }
        return out;
    }
}
