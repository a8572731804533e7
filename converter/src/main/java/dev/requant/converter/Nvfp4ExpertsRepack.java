package dev.requant.converter;

import dev.requant.formats.ggml.GgmlType;
import dev.requant.formats.nvfp4.Nvfp4Tensor;
import java.lang.foreign.MemorySegment;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;

/**
 * NVFP4 experts as one 3-D GGML NVFP4 tensor ({@code ne = {cols, rows, E}}, expert e's rows after expert e-1's),
 * convert_hf_to_gguf.py's _flush_nvfp4_experts: each expert repacked losslessly ({@link Nvfp4Repack}, no shift: the
 * gemma4 graph applies every expert scale), their per-tensor scales going to the {@code .scale [E]} tensor beside it.
 */
final class Nvfp4ExpertsRepack implements RawRecipe {
    private final List<Nvfp4Repack> experts = new ArrayList<>();
    private final List<String> sources;
    private final String what;
    private final long rows, cols;

    /** @param scales each expert's per-tensor multiplier (what {@code .scale} holds for it) */
    Nvfp4ExpertsRepack(List<Nvfp4Tensor> experts, float[] scales, List<String> sources, String what) {
        for (int e = 0; e < experts.size(); e++) {
            this.experts.add(new Nvfp4Repack(experts.get(e), new Nvfp4Split(0, scales[e], LlamaCppScaleUse.APPLIED, Nvfp4Split.Outcome.UPSTREAM)));
        }
        this.sources = List.copyOf(sources);
        this.what = what;
        this.rows = experts.getFirst().rows();
        this.cols = experts.getFirst().cols();
    }

    @Override public GgmlType rawType() { return GgmlType.NVFP4; }

    @Override public List<String> sources() { return sources; }

    @Override public String transform() { return what; }

    @Override public String sourceType() { return "NVFP4"; }

    @Override public long[] ne() { return new long[] {cols, rows, experts.size()}; }

    @Override public Optional<MemorySegment> stored(GgmlType type) { return Optional.empty(); }

    @Override
    public void copyRows(long row, int count, MemorySegment dst, long dstOffset) {
        long rowBytes = GgmlType.NVFP4.rowBytes(cols);
        for (int i = 0; i < count; i++) {
            long r = row + i;
            experts.get((int) (r / rows)).copyRows(r % rows, 1, dst, dstOffset + i * rowBytes);
        }
    }

    @Override
    public void readRows(long row, int count, float[] dst) {
        float[] one = new float[(int) cols];
        for (int i = 0; i < count; i++) {
            long r = row + i;
            experts.get((int) (r / rows)).readRows(r % rows, 1, one);
            System.arraycopy(one, 0, dst, i * (int) cols, (int) cols);
        }
    }
}
