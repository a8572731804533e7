package dev.requant.converter.qat;

import dev.requant.converter.ConversionPlan;
import dev.requant.formats.gguf.FileType;
import dev.requant.converter.PlannedTensor;
import dev.requant.converter.TensorCandidate;
import dev.requant.converter.TypeDecision;
import dev.requant.converter.TypePolicy;
import dev.requant.formats.ggml.GgmlType;
import dev.requant.formats.ggml.VectorSupport;
import dev.requant.formats.gguf.GgufKeys;
import dev.requant.formats.gguf.GgufMetadata;
import dev.requant.formats.gguf.GgufValue;
import dev.requant.formats.gguf.GgufWriter;
import java.io.IOException;
import java.util.LinkedHashMap;
import java.util.Locale;
import java.util.Map;
import java.util.Optional;
import java.util.Set;

/**
 * The --qat rules of a Q4_0 conversion. With {@code auto}, each 2-D weight's fit to a Q4_0 lattice is measured on a
 * sample of its rows when the plan is made: a QAT-aligned tensor is encoded through {@link LatticeQ4_0Codec} (its
 * trained codes and scales kept), any other one by llama.cpp's Q4_0 encoder, so non-QAT tensors stay bit-identical to
 * llama-quantize. Embeddings and the output head take the lattice when aligned and Q8_0 otherwise, the choice of
 * llama.cpp's own QAT recipes (examples/model-conversion, PR 15588). {@code on} uses the lattice for every Q4_0 tensor
 * (inexact blocks get the least-error F16 scale); {@code off} is llama.cpp's rule throughout.
 *
 * <p>With Q8_0, a tensor found on a Q8_0 lattice (absmax/127 scales, every value an integer multiple) is encoded
 * through {@link LatticeQ8_0Codec} and keeps its codes and scales; every other tensor keeps llama.cpp's Q8_0 bytes.
 *
 * <p>The GGUF records what was done under {@code requant.qat.*}: the mode, how many tensors took the lattice, and the
 * exact-block fraction per tensor class, filled in with the final counts once every tensor is written.
 */
public final class QatPolicy {
    public enum Mode {
        AUTO, ON, OFF;

        public static Mode parse(String s) {
            for (Mode m : values()) if (m.name().equalsIgnoreCase(s)) return m;
            throw new IllegalArgumentException("unknown --qat mode '" + s + "' (choose auto, on or off)");
        }
    }

    public static final String RULE = "qat";
    static final Set<String> EMBEDDING_LIKE = Set.of("token_embd.weight", "per_layer_token_embd.weight", "output.weight");
    /**
     * Blocks measured per tensor when planning (whole rows, spread evenly, at least one): enough to tell the 97-100%
     * of a QAT tensor from {@link LatticeStats#ALIGNED}'s 90% and from the near 0% of any other (the standard error of
     * an exact fraction near 0.9 is 1.9%, near 0.97 1.1%). The plan runs while the JIT is still cold: 1024 blocks a
     * tensor were 0.2 s of a 1 B-weight conversion's start (reading the sampled rows through code not yet compiled).
     */
    static final int SAMPLE_BLOCKS = 256;
    /** At most this many rows, however short. */
    static final int SAMPLE_ROWS = 64;

    private final Mode mode;
    private final Map<String, LatticeStats> measured = new LinkedHashMap<>();
    private final Map<String, LatticeCodec> lattice = new LinkedHashMap<>();
    private boolean plainQ4_0Warming;

    public QatPolicy(Mode mode) {
        this.mode = mode;
    }

    public Mode mode() { return mode; }

    /** The policy with the QAT rule placed before --type (after any explicit type overrides). */
    public TypePolicy apply(TypePolicy policy) {
        return policy.insertBefore(TypePolicy.OUT_TYPE, TypePolicy.rule(RULE, this::decide));
    }

    private Optional<TypeDecision> decide(TensorCandidate t) {
        if (mode == Mode.OFF) return Optional.empty();
        if (t.settings().outType() == FileType.Q8_0) return decideQ8_0(t);
        if (t.settings().outType() != FileType.Q4_0) return Optional.empty();
        Optional<StoredPrecision> precision = precisionOf(t.recipe().sourceType());
        if (t.nDims() < 2 || t.rowLength() % Q4_0Lattice.QK != 0 || precision.isEmpty()) return Optional.empty();
        boolean embeddingLike = EMBEDDING_LIKE.contains(t.ggufName());
        if (mode == Mode.ON) return Optional.of(latticeDecision(t, precision.get(), "qat on: lattice q4_0"));
        LatticeStats fit = measure(t, precision.get());
        measured.put(t.ggufName(), fit);
        String pct = String.format(Locale.ROOT, "%.1f%% exact", 100 * fit.exactFraction());
        if (fit.aligned()) return Optional.of(latticeDecision(t, precision.get(), "qat: lattice q4_0 (" + pct + ", " + fit.dominantRule().label() + ")"));
        if (embeddingLike) return Optional.of(new TypeDecision(GgmlType.Q8_0, "qat: q8_0, not on a lattice (" + pct + ")"));
        if (!plainQ4_0Warming) {
            // the command did not warm llama.cpp's Q4_0 encoder at start (KernelWarmUp): a lattice was expected
            plainQ4_0Warming = true;
            VectorSupport.warmUpInBackground(GgmlType.Q4_0);
        }
        return Optional.of(new TypeDecision(GgmlType.Q4_0, "qat: llama.cpp q4_0, not on a lattice (" + pct + ")"));
    }

    /**
     * --type q8_0: a tensor on a Q8_0 lattice (auto: measured on a sample; on: every one) goes through
     * {@link LatticeQ8_0Codec}, which keeps its codes and scales; others keep llama.cpp's Q8_0. Only tensors whose
     * rows are whole blocks (else convert_hf_to_gguf.py's rule falls back to F16).
     */
    private Optional<TypeDecision> decideQ8_0(TensorCandidate t) {
        Optional<StoredPrecision> precision = precisionOf(t.recipe().sourceType());
        if (t.nDims() < 2 || t.rowLength() % Q8_0Lattice.QK != 0 || precision.isEmpty()) return Optional.empty();
        if (mode == Mode.AUTO) {
            LatticeStats fit = measureQ8_0(t, precision.get());
            measured.put(t.ggufName(), fit);
            if (!fit.aligned()) return Optional.empty();
        }
        String why = mode == Mode.ON ? "qat on: lattice q8_0" : String.format(Locale.ROOT, "qat: lattice q8_0 (%.1f%% exact)", 100 * measured.get(t.ggufName()).exactFraction());
        LatticeQ8_0Codec codec = new LatticeQ8_0Codec(precision.get());
        lattice.put(t.ggufName(), codec);
        return Optional.of(new TypeDecision(GgmlType.Q8_0, why, codec));
    }

    private static LatticeStats measureQ8_0(TensorCandidate t, StoredPrecision precision) {
        long rows = t.recipe().rows();
        int n = Math.toIntExact(t.rowLength());
        int blocksPerRow = Math.max(1, n / Q8_0Lattice.QK);
        int sample = (int) Math.min(rows, Math.min(SAMPLE_ROWS, (SAMPLE_BLOCKS + blocksPerRow - 1) / blocksPerRow));
        float[] row = new float[n];
        Q8_0Lattice l = new Q8_0Lattice(precision);
        LatticeStats stats = new LatticeStats();
        for (int i = 0; i < sample; i++) {
            t.recipe().readRows(rows * i / sample, 1, row);
            for (int b = 0; b < n; b += Q8_0Lattice.QK) {
                l.solve(row, b);
                stats.add(l);
            }
        }
        return stats;
    }

    private TypeDecision latticeDecision(TensorCandidate t, StoredPrecision precision, String rule) {
        LatticeQ4_0Codec codec = new LatticeQ4_0Codec(precision);
        lattice.put(t.ggufName(), codec);
        return new TypeDecision(GgmlType.Q4_0, rule, codec);
    }

    /** The fit of an evenly spread sample of the tensor's rows. */
    private static LatticeStats measure(TensorCandidate t, StoredPrecision precision) {
        long rows = t.recipe().rows();
        int n = Math.toIntExact(t.rowLength());
        int blocksPerRow = Math.max(1, n / Q4_0Lattice.QK);
        int sample = (int) Math.min(rows, Math.min(SAMPLE_ROWS, (SAMPLE_BLOCKS + blocksPerRow - 1) / blocksPerRow));
        float[] row = new float[n];
        // The vector kernels (the batch kernel, as the encoders run it) once the lattice's warm-up has run, waiting for
        // one that is running. Not the plain-Java lanes meanwhile: on 2 cores, measuring on the lanes without waiting
        // (and letting the encoders start on them) cost 0.18 CPU-s more and saved no wall time (BENCHMARKS.md, "Blocks
        // side by side"). Without a warm-up (a JVM without the Vector API, or a caller that starts none) the lanes: there
        // the vector kernels would run interpreted, tens of microseconds a block, while the lanes compile within a few
        // hundred calls and reject wrong candidates as cheaply, which the scalar reference does not (it searches each
        // one's interval). All three give the same answers.
        Q4_0Lattice l = new Q4_0Lattice(precision);
        if (!LatticeQ4_0Codec.awaitWarmUp()) l.useLanes();
        LatticeStats stats = new LatticeStats();
        for (int i = 0; i < sample; i++) {
            t.recipe().readRows(rows * i / sample, 1, row);
            l.measureRow(row, 0, n, stats);
        }
        return stats;
    }

    static Optional<StoredPrecision> precisionOf(String sourceType) {
        return switch (sourceType.toUpperCase(Locale.ROOT)) {
            case "BF16" -> Optional.of(StoredPrecision.BF16);
            case "F16" -> Optional.of(StoredPrecision.F16);
            case "F32" -> Optional.of(StoredPrecision.F32);
            default -> Optional.empty();
        };
    }

    /** Tensors that took the lattice, with what encoding them found (complete once the conversion has run). */
    public Map<String, LatticeStats> latticeTensors() {
        Map<String, LatticeStats> m = new LinkedHashMap<>();
        lattice.forEach((k, v) -> m.put(k, v.stats()));
        return m;
    }

    /** Sampled fit of every tensor the auto mode measured. */
    public Map<String, LatticeStats> measured() { return measured; }

    /** Per tensor class, the lattice tensors' statistics merged. */
    public Map<String, LatticeStats> latticeClasses() {
        Map<String, LatticeStats> m = new LinkedHashMap<>();
        lattice.forEach((name, codec) -> m.computeIfAbsent(QatReport.tensorClass(name), k -> new LatticeStats()).merge(codec.stats()));
        return m;
    }

    /** The plan's metadata plus requant.qat.* keys; the counts are placeholders until {@link #fillIn}. */
    public GgufMetadata metadata(ConversionPlan plan) {
        GgufMetadata md = plan.metadata();
        if (!recorded(plan)) return md;
        md.put(GgufKeys.Qat.MODE, GgufValue.string(mode.name().toLowerCase(Locale.ROOT)));
        md.put(GgufKeys.Qat.LATTICE_TENSORS, GgufValue.u32(lattice.size()));
        md.put(GgufKeys.Qat.BLOCKS, GgufValue.u64(0));
        md.put(GgufKeys.Qat.EXACT_BLOCKS, GgufValue.u64(0));
        for (String c : latticeClasses().keySet()) md.put(GgufKeys.Qat.exactFraction(c), GgufValue.f32(0f));
        return md;
    }

    /** Writes the final counts into the header (same sizes as the placeholders). */
    public void fillIn(GgufWriter w, ConversionPlan plan) throws IOException {
        if (!recorded(plan)) return;
        long blocks = 0, exact = 0;
        for (var e : latticeClasses().entrySet()) {
            blocks += e.getValue().blocks();
            exact += e.getValue().exactBlocks();
            w.updateValue(GgufKeys.Qat.exactFraction(e.getKey()), GgufValue.f32((float) e.getValue().exactFraction()));
        }
        w.updateValue(GgufKeys.Qat.BLOCKS, GgufValue.u64(blocks));
        w.updateValue(GgufKeys.Qat.EXACT_BLOCKS, GgufValue.u64(exact));
    }

    /** Whether the GGUF records requant.qat.*: a lattice type was asked for and the rule was not off. */
    private boolean recorded(ConversionPlan plan) {
        FileType t = plan.settings().outType();
        // Q8_0 is convert_hf_to_gguf.py's own type: its output stays key for key the Python converter's unless a
        // lattice was actually kept
        return mode != Mode.OFF && (t == FileType.Q4_0 || t == FileType.Q8_0 && !lattice.isEmpty());
    }

    /** Whether a planned tensor is encoded through the lattice. */
    public boolean usesLattice(PlannedTensor t) {
        return lattice.containsKey(t.ggufName());
    }
}
