package dev.requant.converter.quantize.mix;

import dev.requant.converter.quantize.TensorTypeOverride;
import dev.requant.formats.ggml.GgmlType;
import dev.requant.formats.gguf.FileType;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * A mix as llama-quantize takes it: one {@code --tensor-type} rule per tensor, anchored to its whole name
 * ({@code ^blk\.3\.attn_q\.weight$=q5_K}), so that no rule matches another tensor whatever the order; and the file
 * type passed beside it (it only names the file in general.file_type: every quantized tensor is matched by a rule).
 * The lines are a {@code --tensor-type-file} for llama-quantize and for requant's quantize.
 *
 * @param types the requested type per tensor name, in output order
 * @param lattice the tensors whose Q4_0 is written through lattice recovery (a QAT checkpoint's codes kept); the
 *     recipe can only say q4_0 for them, which llama-quantize encodes with its own rule
 */
public record MixRecipe(Map<String, GgmlType> types, java.util.Set<String> lattice, FileType fileType) {
    public MixRecipe {
        types = java.util.Collections.unmodifiableMap(new LinkedHashMap<>(types));
        lattice = java.util.Set.copyOf(lattice);
    }

    /** The rule for one tensor: its name with regex metacharacters escaped, anchored. */
    public static String pattern(String tensorName) {
        StringBuilder sb = new StringBuilder("^");
        for (char c : tensorName.toLowerCase(java.util.Locale.ROOT).toCharArray()) {
            if ("\\.[]{}()*+?^$|".indexOf(c) >= 0) sb.append('\\');
            sb.append(c);
        }
        return sb.append('$').toString();
    }

    public List<String> lines() {
        List<String> out = new ArrayList<>();
        types.forEach((name, t) -> out.add(pattern(name) + "=" + t.ggmlName()));
        return out;
    }

    public String text() {
        return String.join("\n", lines()) + "\n";
    }

    public List<TensorTypeOverride> overrides() {
        return lines().stream().map(TensorTypeOverride::parse).toList();
    }

    /**
     * The file type named in general.file_type: the one whose default type holds the most bytes of the mix (the _M
     * variant of a k-quant, as llama.cpp names mixed files), Q8_0 when nothing matches.
     */
    public static FileType fileTypeFor(Map<GgmlType, Long> bytesPerType) {
        GgmlType main = bytesPerType.entrySet().stream().filter(e -> e.getKey().quantized()).max(Map.Entry.comparingByValue())
                .map(Map.Entry::getKey).orElse(GgmlType.Q8_0);
        FileType best = null;
        for (FileType f : FileType.values()) {
            if (f.defaultType() != main || !f.producible() || f.needsImatrix()) continue;
            if (best == null || (f.name().endsWith("_M") && !best.name().endsWith("_M"))) best = f;
        }
        return best != null ? best : FileType.Q8_0;
    }
}
