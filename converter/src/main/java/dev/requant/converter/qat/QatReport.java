package dev.requant.converter.qat;

import dev.requant.formats.gguf.GgufTensorSpec;
import dev.requant.formats.model.ModelSource;
import java.util.ArrayList;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ForkJoinPool;
import java.util.function.Consumer;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * Which tensors of a checkpoint were trained onto a Q4_0 lattice: per tensor and per tensor class (attn_q, ffn_down,
 * token_embd, ...), the exact-block fraction, the scale rule, the scale precision and the largest error.
 */
public final class QatReport {
    /** One analysed tensor. */
    public record TensorFit(String name, String tensorClass, GgufTensorSpec spec, LatticeStats stats) {}

    private static final Pattern BLOCK = Pattern.compile("^blk\\.\\d+\\.(.+?)(\\.weight)?$");

    private final List<TensorFit> tensors;
    private final Map<String, LatticeStats> byClass;
    private final List<String> skipped;

    private QatReport(List<TensorFit> tensors, List<String> skipped) {
        this.tensors = Collections.unmodifiableList(tensors);
        this.skipped = Collections.unmodifiableList(skipped);
        Map<String, LatticeStats> m = new LinkedHashMap<>();
        for (TensorFit t : tensors) m.computeIfAbsent(t.tensorClass(), k -> new LatticeStats()).merge(t.stats());
        this.byClass = Collections.unmodifiableMap(m);
    }

    /**
     * @param maxRows rows per tensor to analyse (0 = all)
     * @param progress called with each tensor name before it is analysed (may be null)
     */
    public static QatReport analyse(ModelSource model, int maxRows, int threads, Consumer<String> progress) {
        List<TensorFit> fits = new ArrayList<>();
        List<String> skipped = new ArrayList<>();
        ForkJoinPool pool = new ForkJoinPool(Math.max(1, threads));
        try {
            for (GgufTensorSpec t : model.tensors()) {
                if (!LatticeAnalysis.candidate(t)) {
                    if (t.nDims() >= 2) skipped.add(t.name() + " (" + t.type() + ")");
                    continue;
                }
                if (progress != null) progress.accept(t.name());
                fits.add(new TensorFit(t.name(), tensorClass(t.name()), t, LatticeAnalysis.analyse(model, t, maxRows, pool)));
            }
        } finally {
            pool.shutdown();
        }
        return new QatReport(fits, skipped);
    }

    /** "blk.3.attn_q.weight" -> "attn_q"; "token_embd.weight" -> "token_embd". */
    public static String tensorClass(String ggufName) {
        Matcher m = BLOCK.matcher(ggufName);
        if (m.matches()) return m.group(1);
        return ggufName.endsWith(".weight") ? ggufName.substring(0, ggufName.length() - ".weight".length()) : ggufName;
    }

    public List<TensorFit> tensors() { return tensors; }

    /** Per tensor class, merged over layers, in first-seen order. */
    public Map<String, LatticeStats> byClass() { return byClass; }

    /** 2-D tensors that could not be analysed (already quantized, rows not whole blocks). */
    public List<String> skipped() { return skipped; }

    public List<String> alignedClasses() {
        return byClass.entrySet().stream().filter(e -> e.getValue().aligned()).map(Map.Entry::getKey).toList();
    }

    public List<String> unalignedClasses() {
        return byClass.entrySet().stream().filter(e -> !e.getValue().aligned()).map(Map.Entry::getKey).toList();
    }
}
