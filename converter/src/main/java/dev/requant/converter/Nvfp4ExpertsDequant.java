package dev.requant.converter;

import dev.requant.formats.ggml.GgmlType;
import dev.requant.formats.nvfp4.Nvfp4Tensor;
import java.lang.foreign.MemorySegment;
import java.util.List;
import java.util.Optional;

/**
 * NVFP4 experts dequantized into one 3-D tensor ({@code ne = {cols, rows, E}}) for output types other than NVFP4:
 * each expert by its producer's own dequantization, its per-tensor scale included.
 */
final class Nvfp4ExpertsDequant implements TensorRecipe {
    private final List<Nvfp4Tensor> experts;
    private final List<String> sources;
    private final long rows, cols;

    Nvfp4ExpertsDequant(List<Nvfp4Tensor> experts, List<String> sources) {
        this.experts = List.copyOf(experts);
        this.sources = List.copyOf(sources);
        this.rows = experts.getFirst().rows();
        this.cols = experts.getFirst().cols();
    }

    @Override public List<String> sources() { return sources; }

    @Override public String transform() { return "NVFP4 dequantize (" + experts.size() + " experts)"; }

    @Override public String sourceType() { return "NVFP4"; }

    @Override public long[] ne() { return new long[] {cols, rows, experts.size()}; }

    @Override public Optional<MemorySegment> stored(GgmlType type) { return Optional.empty(); }

    @Override
    public void readRows(long row, int count, float[] dst) {
        for (int i = 0; i < count; i++) {
            long r = row + i;
            experts.get((int) (r / rows)).dequantizeRow(r % rows, dst, i * (int) cols);
        }
    }
}
