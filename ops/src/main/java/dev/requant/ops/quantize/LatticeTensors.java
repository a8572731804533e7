package dev.requant.ops.quantize;

import dev.requant.converter.qat.LatticeAnalysis;
import dev.requant.converter.qat.LatticeQ4_0Codec;
import dev.requant.converter.qat.StoredPrecision;
import dev.requant.formats.gguf.GgufTensorSpec;
import dev.requant.formats.model.ModelSource;
import java.util.Collection;
import java.util.EnumMap;
import java.util.LinkedHashSet;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.ForkJoinPool;

/**
 * Which tensors of a model sit on a Q4_0 lattice (a QAT checkpoint's trained codes and scales), by the same sample of
 * rows for the mix's measurement and for {@code quantize --qat auto}, so that a mix's recipe run through quantize
 * with --qat auto writes its lattice tensors the way the mix did; and the lattice encoder for each stored precision.
 */
final class LatticeTensors {
    /** Rows measured per tensor: enough to tell a trained lattice (all blocks exact) from anything else. */
    static final int SAMPLE_ROWS = 64;

    private final Map<StoredPrecision, LatticeQ4_0Codec> codecs = new EnumMap<>(StoredPrecision.class);

    /** Of {@code names}, the float tensors whose sampled rows are on a Q4_0 lattice. */
    static Set<String> aligned(ModelSource src, Collection<String> names) {
        Set<String> out = new LinkedHashSet<>();
        for (String n : names) {
            GgufTensorSpec spec = src.tensor(n).orElse(null);
            if (spec == null || !LatticeAnalysis.candidate(spec)) continue;
            if (LatticeAnalysis.analyse(src, spec, SAMPLE_ROWS, ForkJoinPool.commonPool()).aligned()) out.add(n);
        }
        return out;
    }

    /** The lattice encoder for a tensor stored in {@code precision} (one per precision: it keeps statistics). */
    synchronized LatticeQ4_0Codec codec(StoredPrecision precision) {
        return codecs.computeIfAbsent(precision, LatticeQ4_0Codec::new);
    }
}
