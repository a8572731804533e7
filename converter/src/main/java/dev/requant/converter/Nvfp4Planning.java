package dev.requant.converter;

import dev.requant.formats.FormatException;
import dev.requant.formats.ggml.GgmlType;
import dev.requant.formats.nvfp4.BlockScaleCensus;
import dev.requant.formats.nvfp4.GlobalScale;
import dev.requant.formats.nvfp4.Nvfp4Tensor;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;

/**
 * The NVFP4 part of a conversion plan: for each NVFP4 weight of a ModelOpt or compressed-tensors checkpoint, the
 * GGUF tensors it becomes. Kept as NVFP4 (--type auto): the repacked weight ({@link Nvfp4Repack}) with the split
 * {@link Nvfp4Split} chooses, then {@code <name>.scale} and {@code <name>.input_scale} as F32 {@code [1]} when they are
 * not 1 (convert_hf_to_gguf.py's _write_scale_tensor rule) and llama.cpp loads them. Any other --type, or a fallback:
 * the exact dequantization, typed by the usual rules.
 */
public final class Nvfp4Planning {
    /** The rule name printed by --dry-run for kept NVFP4 weights. */
    public static final String KEEP_RULE = "nvfp4: kept";
    public static final String FALLBACK_RULE = "nvfp4: scale not applied by llama.cpp";
    /** general.file_type of a GGUF with NVFP4 weights (LlamaFileType.MOSTLY_NVFP4; convert_hf_to_gguf.py sets it). */
    public static final int FILE_TYPE_MOSTLY_NVFP4 = 39;

    private Nvfp4Planning() {}

    /** The rule that keeps repacked weights NVFP4 and sends fallbacks to their type; it goes before every other rule. */
    static TypeRule rule() {
        return TypePolicy.rule(KEEP_RULE, t -> {
            if (t.recipe() instanceof Nvfp4Repack || t.recipe() instanceof Nvfp4ExpertsRepack) return Optional.of(new TypeDecision(GgmlType.NVFP4, KEEP_RULE));
            if (t.recipe() instanceof QuantizedDequant q && q.fallback() != null) {
                return Optional.of(new TypeDecision(q.fallback(), FALLBACK_RULE + " (" + q.fallback().name().toLowerCase(java.util.Locale.ROOT) + ")"));
            }
            return Optional.empty();
        });
    }

    /**
     * The recipes for one NVFP4 weight, in write order (weight, then its scales).
     *
     * @param keep whether NVFP4 weights stay NVFP4 (--type auto)
     */
    static List<Planned> plan(String arch, String ggufName, Nvfp4Tensor t, boolean keep, ConversionSettings.Nvfp4Options options, Path file)
            throws FormatException {
        boolean normalized = LlamaCppScaleUse.factorNormalizedAway(arch, ggufName);
        GgmlType fallback = options.fallback() == null ? null : options.fallback().defaultType();
        if (!keep) return List.of(new Planned(ggufName, new QuantizedDequant(t, "NVFP4 dequantize", null)));
        BlockScaleCensus census = BlockScaleCensus.of(t);
        if (!census.valid()) {
            throw new FormatException(file, "tensor '" + t.weightName() + "' has " + census.nan() + " NaN and " + census.negative()
                    + " negative block scales; llama.cpp would read them as 0 and |scale|, so the GGUF could not hold the same values (run requant verify-fp4 on it)");
        }
        GlobalScale ws = t.weightScale();
        float m = ws.multiplier();
        if (!ws.isValid() || !Float.isFinite(m) || m <= 0f) {
            throw new FormatException(file, "tensor '" + t.weightName() + "' has per-tensor scale " + ws.value() + "; a weight scale must be finite and positive");
        }
        LlamaCppScaleUse use = LlamaCppScaleUse.of(arch, ggufName);
        if (t.cols() % 64 != 0) {
            GgmlType type = fallback != null ? fallback : GgmlType.F32;
            return List.of(new Planned(ggufName, new QuantizedDequant(t, "NVFP4 dequantize (rows of " + t.cols() + " are not a multiple of GGML's 64)", type)));
        }
        Nvfp4Split split = options.upstreamSplit() && use.loaded() ? new Nvfp4Split(0, m, use, use == LlamaCppScaleUse.APPLIED
                ? Nvfp4Split.Outcome.UPSTREAM : normalized ? Nvfp4Split.Outcome.SHIFTED : Nvfp4Split.Outcome.SHIFTED_INEXACT)
                : Nvfp4Split.choose(m, census, use, normalized, fallback != null);
        if (split.outcome() == Nvfp4Split.Outcome.FALLBACK) {
            GgmlType type = fallback != null ? fallback : GgmlType.F32;
            return List.of(new Planned(ggufName, new QuantizedDequant(t, "NVFP4 dequantize (llama.cpp " + (use == LlamaCppScaleUse.NOT_LOADED
                    ? "has no .scale for this weight" : "does not apply this weight's .scale") + ")", type)));
        }
        List<Planned> out = new ArrayList<>();
        out.add(new Planned(ggufName, new Nvfp4Repack(t, split)));
        String base = ggufName.substring(0, ggufName.length() - ".weight".length());
        if (Math.abs(split.scale() - 1f) >= 1e-6f) {
            out.add(new Planned(base + ".scale", new GeneratedTensor("per-tensor scale of " + t.weightName() + (split.shift() != 0 ? " x 2^" + split.shift() : ""),
                    new float[] {split.scale()}, 1)));
        }
        if (t.inputScale() != null && use.loaded()) {
            float is = t.inputScale().multiplier();
            if (Math.abs(is - 1f) >= 1e-6f) {
                out.add(new Planned(base + ".input_scale", new GeneratedTensor("activation scale of " + t.weightName(), new float[] {is}, 1)));
            }
        }
        return out;
    }

    /** One GGUF tensor of the NVFP4 part. */
    record Planned(String ggufName, TensorRecipe recipe) {}

    /** An NVFP4 weight of a plan and how it was written. */
    public record Kept(String ggufName, Nvfp4Tensor tensor, Nvfp4Split split) {}

    /** The NVFP4 weights a plan keeps, with their splits (for summaries and the verifier). */
    public static List<Kept> kept(ConversionPlan plan) {
        List<Kept> out = new ArrayList<>();
        for (PlannedTensor p : plan.tensors()) {
            if (p.recipe() instanceof Nvfp4Repack r) out.add(new Kept(p.ggufName(), r.tensor(), r.split()));
        }
        return out;
    }

    /** The NVFP4 weights a plan dequantizes (other --type, or fallback), by GGUF name. */
    public static List<String> dequantized(ConversionPlan plan) {
        List<String> out = new ArrayList<>();
        for (PlannedTensor p : plan.tensors()) {
            if (p.recipe() instanceof QuantizedDequant q && q.nvfp4() != null) out.add(p.ggufName());
        }
        return out;
    }
}
