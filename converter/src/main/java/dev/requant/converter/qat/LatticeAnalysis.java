package dev.requant.converter.qat;

import dev.requant.formats.ggml.BlockCodec;
import dev.requant.formats.ggml.GgmlType;
import dev.requant.formats.gguf.GgufTensorSpec;
import dev.requant.formats.model.ModelSource;
import java.lang.foreign.MemorySegment;
import java.util.Optional;
import java.util.concurrent.ForkJoinPool;
import java.util.stream.IntStream;

/**
 * Measures a stored tensor's fit to a Q4_0 and a Q8_0 lattice without converting anything: every block (or an evenly
 * spread sample of rows, for a quick look) goes through {@link Q4_0Lattice} and {@link Q8_0Lattice}.
 */
public final class LatticeAnalysis {
    private LatticeAnalysis() {}

    /** Whether a tensor can hold a Q4_0 lattice at all: a 2-D+ float weight whose rows are whole blocks. */
    public static boolean candidate(GgufTensorSpec t) {
        return t.nDims() >= 2 && t.rowLength() % Q4_0Lattice.QK == 0
                && (t.type() == GgmlType.BF16 || t.type() == GgmlType.F16 || t.type() == GgmlType.F32);
    }

    /** The precision the checkpoint stored the tensor in. */
    public static Optional<StoredPrecision> precisionOf(GgmlType t) {
        return switch (t) {
            case BF16 -> Optional.of(StoredPrecision.BF16);
            case F16 -> Optional.of(StoredPrecision.F16);
            case F32 -> Optional.of(StoredPrecision.F32);
            default -> Optional.empty();
        };
    }

    /** A tensor's fit to both lattices. */
    public record Fit(LatticeStats q4_0, LatticeStats q8_0) {}

    /**
     * @param maxRows analyse at most this many rows, spread evenly over the tensor (0 = all rows)
     */
    public static LatticeStats analyse(ModelSource model, GgufTensorSpec t, int maxRows, ForkJoinPool pool) {
        return fit(model, t, maxRows, pool).q4_0();
    }

    /** The fit to a Q4_0 and to a Q8_0 lattice, measured in one pass over the rows. */
    public static Fit fit(ModelSource model, GgufTensorSpec t, int maxRows, ForkJoinPool pool) {
        StoredPrecision precision = precisionOf(t.type()).orElseThrow(
                () -> new IllegalArgumentException(t.name() + ": " + t.type() + " is not a float type"));
        MemorySegment data = model.data(t.name());
        BlockCodec codec = BlockCodec.of(t.type());
        int n = Math.toIntExact(t.rowLength());
        long rows = t.rows();
        long sampled = maxRows <= 0 ? rows : Math.min(rows, maxRows);
        long rowBytes = t.type().rowBytes(n);
        LatticeStats q4 = new LatticeStats();
        LatticeStats q8 = new LatticeStats();
        int chunks = (int) Math.min(sampled, 256);
        pool.submit(() -> IntStream.range(0, chunks).parallel().forEach(c -> {
            Q4_0Lattice l4 = new Q4_0Lattice(precision);
            Q8_0Lattice l8 = new Q8_0Lattice(precision);
            LatticeStats local4 = new LatticeStats();
            LatticeStats local8 = new LatticeStats();
            float[] row = new float[n];
            long from = sampled * c / chunks, to = sampled * (c + 1) / chunks;
            for (long i = from; i < to; i++) {
                long r = sampled == rows ? i : i * rows / sampled;
                codec.decode(data, r * rowBytes, row, 0, n);
                l4.measureRow(row, 0, n, local4);
                for (int b = 0; b < n; b += Q8_0Lattice.QK) {
                    l8.solve(row, b);
                    local8.add(l8);
                }
            }
            q4.merge(local4);
            q8.merge(local8);
        })).join();
        return new Fit(q4, q8);
    }
}
