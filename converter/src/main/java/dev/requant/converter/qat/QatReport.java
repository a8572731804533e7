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
        String plain = plainTensorClass(ggufName);
        return plain != null ? plain : tensorClassByPattern(ggufName);
    }

    /** The definition of {@link #tensorClass}, by {@link #BLOCK}. */
    static String tensorClassByPattern(String ggufName) {
        Matcher m = BLOCK.matcher(ggufName);
        if (m.matches()) return (m.group(1) != null ? m.group(1) + "." : "") + m.group(2);
        return withoutWeight(ggufName);
    }

    /**
     * {@link #BLOCK}'s answer without the regex, for names of ASCII letters, digits, '_' and '.' (every GGUF tensor name
     * requant writes; null for any other, which the pattern decides). A conversion asks for the class of every lattice
     * tensor several times, and the lazy pattern's backtracking was hot enough that both JIT compilers spent a few
     * tenths of a second of CPU on it.
     */
    static String plainTensorClass(String s) {
        int n = s.length();
        for (int i = 0; i < n; i++) {
            char c = s.charAt(i);
            if (!(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_' || c == '.')) return null;
        }
        int p = n > 2 && (s.charAt(0) == 'a' || s.charAt(0) == 'v') && s.charAt(1) == '.' ? 2 : 0;
        if (!s.startsWith("blk.", p)) return withoutWeight(s);
        int digits = p + 4, end = digits;
        while (end < n && s.charAt(end) >= '0' && s.charAt(end) <= '9') end++;
        if (end == digits || end + 1 >= n || s.charAt(end) != '.') return withoutWeight(s);
        String rest = s.substring(end + 1);
        // the lazy group leaves ".weight" to the optional suffix only if something precedes it
        String cls = rest.length() > ".weight".length() ? withoutWeight(rest) : rest;
        return p == 2 ? s.substring(0, 2) + cls : cls;
    }

    private static String withoutWeight(String name) {
        return name.endsWith(".weight") ? name.substring(0, name.length() - ".weight".length()) : name;
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
