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
 * Which tensors of a checkpoint were trained onto a Q4_0 or a Q8_0 lattice: per tensor and per tensor class (attn_q,
 * ffn_down, token_embd, v.blk.*, ...), the exact-block fraction, the scale rule, the scale precision and the largest
 * error, for each lattice.
 */
public final class QatReport {
    /** One analysed tensor: its fit to a Q4_0 lattice ({@code stats}) and to a Q8_0 lattice ({@code q8_0}). */
    public record TensorFit(String name, String tensorClass, GgufTensorSpec spec, LatticeStats stats, LatticeStats q8_0) {}

    private static final Pattern BLOCK = Pattern.compile("^(?:([av])\\.)?blk\\.\\d+\\.(.+?)(\\.weight)?$");

    private final List<TensorFit> tensors;
    private final Map<String, LatticeStats> byClass;
    private final Map<String, LatticeStats> byClassQ8_0;
    private final List<String> skipped;

    private QatReport(List<TensorFit> tensors, List<String> skipped) {
        this.tensors = Collections.unmodifiableList(tensors);
        this.skipped = Collections.unmodifiableList(skipped);
        Map<String, LatticeStats> m = new LinkedHashMap<>();
        Map<String, LatticeStats> m8 = new LinkedHashMap<>();
        for (TensorFit t : tensors) {
            m.computeIfAbsent(t.tensorClass(), k -> new LatticeStats()).merge(t.stats());
            m8.computeIfAbsent(t.tensorClass(), k -> new LatticeStats()).merge(t.q8_0());
        }
        this.byClass = Collections.unmodifiableMap(m);
        this.byClassQ8_0 = Collections.unmodifiableMap(m8);
    }

    /**
     * @param maxRows rows per tensor to analyse (0 = all)
     * @param progress called with each tensor name before it is analysed (may be null)
     */
    public static QatReport analyse(ModelSource model, int maxRows, int threads, Consumer<String> progress) {
        return analyse(List.of(model), maxRows, threads, progress);
    }

    /** One report over several sources (a checkpoint's text model and its projector), in order. */
    public static QatReport analyse(List<ModelSource> models, int maxRows, int threads, Consumer<String> progress) {
        List<TensorFit> fits = new ArrayList<>();
        List<String> skipped = new ArrayList<>();
        ForkJoinPool pool = new ForkJoinPool(Math.max(1, threads));
        try {
            for (ModelSource model : models) {
                for (GgufTensorSpec t : model.tensors()) {
                    if (!LatticeAnalysis.candidate(t)) {
                        if (t.nDims() >= 2) skipped.add(t.name() + " (" + t.type() + ")");
                        continue;
                    }
                    if (progress != null) progress.accept(t.name());
                    LatticeAnalysis.Fit f = LatticeAnalysis.fit(model, t, maxRows, pool);
                    fits.add(new TensorFit(t.name(), tensorClass(t.name()), t, f.q4_0(), f.q8_0()));
                }
            }
        } finally {
            pool.shutdown();
        }
        return new QatReport(fits, skipped);
    }

    /** "blk.3.attn_q.weight" -> "attn_q"; "v.blk.3.attn_q.weight" -> "v.attn_q" (projectors); "token_embd.weight" -> "token_embd". */
    public static String tensorClass(String ggufName) {
        Matcher m = BLOCK.matcher(ggufName);
        if (m.matches()) return (m.group(1) != null ? m.group(1) + "." : "") + m.group(2);
        return ggufName.endsWith(".weight") ? ggufName.substring(0, ggufName.length() - ".weight".length()) : ggufName;
    }

    public List<TensorFit> tensors() { return tensors; }

    /** Per tensor class, merged over layers, in first-seen order. */
    public Map<String, LatticeStats> byClass() { return byClass; }

    /** 2-D tensors that could not be analysed (already quantized, rows not whole blocks). */
    public List<String> skipped() { return skipped; }

    /** Per tensor class, the fit to a Q8_0 lattice. */
    public Map<String, LatticeStats> byClassQ8_0() { return byClassQ8_0; }

    /** Classes on a Q4_0 lattice. */
    public List<String> alignedClasses() {
        return byClass.entrySet().stream().filter(e -> e.getValue().aligned()).map(Map.Entry::getKey).toList();
    }

    /** Classes on a Q8_0 lattice and not on a Q4_0 one. */
    public List<String> alignedQ8_0Classes() {
        return byClassQ8_0.entrySet().stream().filter(e -> e.getValue().aligned() && !byClass.get(e.getKey()).aligned()).map(Map.Entry::getKey).toList();
    }

    /** Classes on neither lattice. */
    public List<String> unalignedClasses() {
        return byClass.keySet().stream().filter(c -> !byClass.get(c).aligned() && !byClassQ8_0.get(c).aligned()).toList();
    }
}
