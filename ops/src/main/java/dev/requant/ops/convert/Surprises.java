package dev.requant.ops.convert;

import dev.requant.converter.ConversionPlan;
import dev.requant.converter.PlannedTensor;
import dev.requant.converter.TypePolicy;
import dev.requant.formats.ggml.GgmlType;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * Weights that did not get the type the user asked for although no F32 rule applies to them: for example the
 * embeddings of a model converted with {@code --type q4_0} that are not on a QAT lattice and stay Q8_0, or a row that
 * Q4_0's block does not divide. Said in convert's summary and in --dry-run, because such a file then surprises later
 * (llama-quantize and {@code requant quantize} refuse an already quantized tensor without --allow-requantize).
 */
final class Surprises {
    private Surprises() {}

    static List<String> of(ConversionPlan plan) {
        if (plan.settings().isAuto()) return List.of();
        GgmlType asked = plan.settings().outType().defaultType();
        Map<String, List<String>> byOutcome = new LinkedHashMap<>();
        for (PlannedTensor t : plan.tensors()) {
            String rule = t.decision().rule();
            GgmlType got = t.decision().type();
            if (got == asked || rule.equals(TypePolicy.F32_VECTORS_AND_NORMS) || rule.equals(TypePolicy.F32_KINDS)) continue;
            if (got == GgmlType.NVFP4) continue; // an NVFP4 checkpoint's weights, kept as they are (reported on their own)
            byOutcome.computeIfAbsent(got.ggmlName() + " (" + rule + ")", k -> new ArrayList<>()).add(t.ggufName());
        }
        List<String> out = new ArrayList<>();
        byOutcome.forEach((outcome, names) -> out.add(names.size() + " weight" + (names.size() == 1 ? "" : "s") + " not "
                + asked.ggmlName() + " but " + outcome + ": " + String.join(", ", names.subList(0, Math.min(3, names.size())))
                + (names.size() > 3 ? ", ..." : "")));
        return out;
    }
}
