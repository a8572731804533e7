package dev.requant.formats.imatrix;

import java.util.List;

/**
 * llama-quantize's --include-weights / --exclude-weights (prepare_imatrix in tools/quantize/quantize.cpp): a weight
 * is dropped when its name contains any excluded string; then, if any include strings are given, only weights whose
 * names contain one of them are kept. Plain substrings, not patterns.
 */
public record ImatrixFilter(List<String> include, List<String> exclude) {
    public static final ImatrixFilter ALL = new ImatrixFilter(List.of(), List.of());

    public ImatrixFilter {
        include = List.copyOf(include);
        exclude = List.copyOf(exclude);
    }

    public boolean accepts(String weightName) {
        for (String x : exclude) if (weightName.contains(x)) return false;
        if (include.isEmpty()) return true;
        for (String x : include) if (weightName.contains(x)) return true;
        return false;
    }
}
