package dev.requant.ops.quantize;

import dev.requant.ops.Opened;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;
import dev.requant.converter.ModelSources;
import dev.requant.converter.qat.LatticeAnalysis;
import dev.requant.converter.qat.LatticeQ4_0Codec;
import dev.requant.converter.quantize.GgufQuantizer;
import dev.requant.converter.quantize.ImatrixInput;
import dev.requant.converter.quantize.PlannedQuantTensor;
import dev.requant.converter.quantize.QuantizePlan;
import dev.requant.converter.quantize.QuantizePlanner;
import dev.requant.converter.quantize.TensorTypeOverride;
import dev.requant.converter.quantize.mix.MixOption;
import dev.requant.converter.quantize.mix.SensitivityTable;
import dev.requant.converter.quantize.mix.TensorSensitivity;
import dev.requant.converter.quantize.mix.WeightedError;
import dev.requant.formats.ggml.BlockCodec;
import dev.requant.formats.ggml.GgmlType;
import dev.requant.formats.gguf.FileType;
import dev.requant.formats.gguf.GgufShards;
import dev.requant.formats.model.GemmaConfig;
import dev.requant.formats.model.ModelSource;
import dev.requant.ops.BadInputException;
import dev.requant.ops.OperationContext;
import dev.requant.runtime.ForwardSession;
import dev.requant.runtime.cpu.CpuThreads;
import dev.requant.runtime.eval.CalibrationKld;
import dev.requant.runtime.model.GemmaWeights;
import dev.requant.runtime.model.WeightTensor;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;

/**
 * The mix's measurement: every type of the menu applied to every tensor as llama-quantize would apply it (one file per
 * type, written to a work folder), and one forward pass over the calibration chunks per (tensor, type) with only that
 * tensor swapped in (measured mode), or per tensor at the probe type only (proxy mode); with the importance-weighted
 * error of every option either way.
 */
final class MixSensitivity {
    private static final Logger LOG = LoggerFactory.getLogger(MixSensitivity.class);
    private MixSensitivity() {}

    /** @param inPlace evaluations made by swapping the tensor into the reference's session (the rest opened one) */
    record Measured(SensitivityTable table, int evaluations, int inPlace) {}

    /** One file per menu type (every tensor in it), then one evaluation per (tensor, option) measured. */
    static Measured measure(QuantizeMix.Request r, OperationContext ctx, GgufShards in, ModelSource src, GemmaConfig config,
            GemmaWeights weights, ImatrixInput im, CalibrationKld calib, ForwardSession reference, CpuThreads pool, Path work, Opened open)
            throws Exception {
        List<GgmlType> menu = r.menu() != null ? r.menu() : QuantizeMix.DEFAULT_MENU;
        if (menu.isEmpty()) throw new BadInputException("--allow-types names no type");
        GgmlType probe = menu.stream().min(java.util.Comparator.comparingDouble(t -> t.typeSize() * 8.0 / t.blockSize())).orElseThrow();
        Map<String, WeightTensor> baseMatrices = weights.matricesByName();

        // which tensors the mix chooses for: those llama-quantize quantizes
        QuantizePlan whole = QuantizePlanner.plan(in, QuantizeMix.settings(FileType.Q8_0, im, r.threads(), List.of()));
        List<PlannedQuantTensor> quantized = whole.tensors().stream().filter(t -> t.decision().quantizable()).toList();
        for (PlannedQuantTensor t : quantized) {
            if (!baseMatrices.containsKey(t.name())) {
                throw new BadInputException(r.input() + ": tensor " + t.name() + " is quantized but not used by requant's forward pass; the mix cannot measure it");
            }
        }
        // QAT: the tensors on a Q4_0 lattice
        Set<String> onLattice = r.qat() ? LatticeTensors.aligned(src, quantized.stream().map(PlannedQuantTensor::name).toList()) : Set.of();
        if (!onLattice.isEmpty()) LOG.info(onLattice.size() + " tensors sit on a Q4_0 lattice: offered Q4_0 on it");

        record Variant(GgmlType type, boolean lattice, QuantizePlan plan, Map<String, WeightTensor> matrices) {}
        List<Variant> variants = new ArrayList<>();
        List<GgmlType> kinds = new ArrayList<>(menu);
        if (!onLattice.isEmpty()) kinds.add(null); // null: the lattice file
        long t0 = System.nanoTime();
        for (GgmlType k : kinds) {
            boolean lat = k == null;
            GgmlType type = lat ? GgmlType.Q4_0 : k;
            ctx.checkCancelled();
            QuantizePlan plan = QuantizePlanner.plan(in, QuantizeMix.settings(FileType.Q8_0, im, r.threads(),
                    List.of(TensorTypeOverride.parse(".*=" + type.ggmlName()))));
            if (plan.requiresImatrix()) throw new BadInputException(type.ggmlName() + " needs an importance matrix (--imatrix FILE)");
            if (!plan.problems().isEmpty()) throw new BadInputException(type.ggmlName() + ": " + plan.firstProblemMessage());
            Path file = work.resolve((lat ? "lattice-" : "") + type.ggmlName() + ".gguf");
            ctx.progress().begin("quantize " + (lat ? "q4_0 lattice" : type.ggmlName()), Math.max(1, plan.elements() / 1_000_000), "M weights");
            LatticeQ4_0Codec latticeCodec = lat ? new LatticeQ4_0Codec(LatticeAnalysis.precisionOf(src.tensor(onLattice.iterator().next())
                    .orElseThrow().type()).orElseThrow()) : null;
            GgufQuantizer.writePerTensor(plan, file, (done, t) -> {
                ctx.checkCancelled();
                ctx.progress().stepTo(done / 1_000_000);
            }, t -> lat && t.output().type() == GgmlType.Q4_0 ? latticeCodec : BlockCodec.of(t.output().type()));
            ctx.progress().end();
            ModelSource q = ModelSources.open(file);
            open.add(q); // open until the run ends: the views below point into its mapping
            variants.add(new Variant(type, lat, plan, GemmaWeights.load(q, GemmaConfig.of(q)).matricesByName()));
        }

        LOG.info(String.format(java.util.Locale.ROOT, "quantized to %d types in %.1f s", variants.size(), (System.nanoTime() - t0) / 1e9));
        long t1 = System.nanoTime();
        // the options of every tensor, their sizes and weighted errors (computed in parallel: one pass over every
        // quantized weight per option, the largest fixed cost of a big model's measurement)
        record Candidate(String tensor, Variant variant, PlannedQuantTensor planned) {}
        List<Candidate> candidates = new ArrayList<>();
        for (PlannedQuantTensor t : quantized) {
            Set<GgmlType> seen = new LinkedHashSet<>();
            for (Variant v : variants) {
                if (v.lattice() && !onLattice.contains(t.name())) continue;
                PlannedQuantTensor pt = v.plan().tensors().stream().filter(x -> x.name().equals(t.name())).findFirst().orElseThrow();
                GgmlType out = pt.output().type();
                // two menu types that fall back to the same type are one option (the first named); on a lattice, Q4_0
                // is always the lattice's (same bytes, no error), which is also what quantize --qat auto writes
                if (!v.lattice() && !seen.add(out)) continue;
                if (!v.lattice() && out == GgmlType.Q4_0 && onLattice.contains(t.name())) continue;
                candidates.add(new Candidate(t.name(), v, pt));
            }
        }
        double[] errors = new double[candidates.size()];
        ctx.progress().begin("weighted errors", candidates.size(), "options");
        java.util.concurrent.atomic.AtomicInteger errorsDone = new java.util.concurrent.atomic.AtomicInteger();
        pool.parallelFor(candidates.size(), (worker, i) -> {
            Candidate c = candidates.get(i);
            WeightTensor base = baseMatrices.get(c.tensor());
            float[] imp = im == null ? null : im.importance().forWeight(c.planned().input().name())
                    .filter(v -> v.length == base.cols() * base.matrices()).orElse(null);
            WeightTensor q = c.variant().matrices().get(c.tensor());
            errors[i] = WeightedError.of(base.data(), base.type(), q.data(), q.type(), base.cols(), (long) base.rows() * base.matrices(), imp);
            int d = errorsDone.incrementAndGet();
            if (worker == 0) ctx.progress().stepTo(d);
        });
        ctx.progress().end();
        LOG.info(String.format(java.util.Locale.ROOT, "%d weighted errors in %.1f s", candidates.size(), (System.nanoTime() - t1) / 1e9));
        long t2 = System.nanoTime(), lastLog = t2;
        Map<String, List<MixOption>> options = new LinkedHashMap<>();
        for (PlannedQuantTensor t : quantized) options.put(t.name(), new ArrayList<>());
        for (int i = 0; i < candidates.size(); i++) {
            Candidate c = candidates.get(i);
            options.get(c.tensor()).add(new MixOption(c.variant().type(), c.planned().output().type(), c.variant().lattice(),
                    c.planned().output().byteSize(), Double.NaN, errors[i]));
        }

        // the measurements: one forward pass over the calibration chunks per (tensor, option)
        int total = 0;
        for (List<MixOption> os : options.values()) {
            for (MixOption o : os) if (wanted(r, o, probe)) total++;
        }
        ctx.progress().begin("sensitivity", total, "evals");
        int done = 0, inPlace = 0;
        List<TensorSensitivity> tensors = new ArrayList<>();
        for (PlannedQuantTensor t : quantized) {
            List<MixOption> measured = new ArrayList<>();
            for (MixOption o : options.get(t.name())) {
                if (!wanted(r, o, probe)) {
                    measured.add(o);
                    continue;
                }
                ctx.checkCancelled();
                double k;
                if (o.output() == t.input().type()) {
                    k = 0; // kept as it is
                } else {
                    Variant v = variants.stream().filter(x -> x.lattice() == o.lattice() && x.type() == o.requested()).findFirst().orElseThrow();
                    WeightTensor q = v.matrices().get(t.name());
                    if (reference.replaceMatrices(Map.of(t.name(), q))) {
                        // the reference's session with this one tensor swapped (a GPU uploads only it), then put back
                        try {
                            k = calib.meanKld(reference);
                        } finally {
                            reference.replaceMatrices(Map.of(t.name(), baseMatrices.get(t.name())));
                        }
                        inPlace++;
                    } else {
                        GemmaWeights w = weights.replacing(Map.of(t.name(), q));
                        try (ForwardSession s = QuantizeMix.session(src, config, w, r, pool, ctx)) {
                            k = calib.meanKld(s);
                        }
                    }
                }
                measured.add(o.withKld(k));
                ctx.progress().stepTo(++done);
                if (System.nanoTime() - lastLog > 30_000_000_000L) {
                    // a line in the log now and then: a long measurement (a queue step, a remote run) shows its pace
                    lastLog = System.nanoTime();
                    LOG.info(String.format(java.util.Locale.ROOT, "sensitivity: %d of %d evaluations in %.0f s", done, total,
                            (lastLog - t2) / 1e9));
                }
                ctx.progress().message(t.name() + " " + o.label());
            }
            tensors.add(new TensorSensitivity(t.name(), t.input().spec().elementCount(), t.input().byteSize(), measured));
        }
        ctx.progress().end();
        LOG.info(String.format(java.util.Locale.ROOT, "%d evaluations (%d in place, %s) in %.1f s", done, inPlace, reference.description(),
                (System.nanoTime() - t2) / 1e9));
        return new Measured(new SensitivityTable(r.input().getFileName().toString(), r.nCtx(), calib.chunks(), calib.scoredTokens(),
                calib.referenceNll(), r.mode(), probe.ggmlName(), tensors), done, inPlace);
    }

    /** Measured mode: every option; proxy mode: the probe only (the others are estimated from their weighted errors). */
    private static boolean wanted(QuantizeMix.Request r, MixOption o, GgmlType probe) {
        return r.mode() == SensitivityTable.Mode.MEASURED || (!o.lattice() && o.requested() == probe);
    }
}
