package dev.requant.converter;

import dev.requant.formats.ggml.GgmlType;
import java.lang.foreign.MemorySegment;
import java.util.List;
import java.util.Optional;

/** A tensor the converter computes rather than reads (Gemma 4's rope_freqs), held as float32 values. */
public final class GeneratedTensor implements TensorRecipe {
    private final float[] values;
    private final long[] ne;
    private final String what;

    public GeneratedTensor(String what, float[] values, long... ne) {
        long n = 1;
        for (long d : ne) n *= d;
        if (n != values.length) throw new IllegalArgumentException("dims " + java.util.Arrays.toString(ne) + " do not hold " + values.length + " values");
        this.values = values.clone();
        this.ne = ne.clone();
        this.what = what;
    }

    @Override public List<String> sources() { return List.of(); }

    @Override public String transform() { return what; }

    @Override public String sourceType() { return "generated"; }

    @Override public long[] ne() { return ne.clone(); }

    /** Always computed: the values go through the row encoder of the output type. */
    @Override
    public Optional<MemorySegment> stored(GgmlType type) {
        return Optional.empty();
    }

    @Override
    public void readRows(long row, int count, float[] dst) {
        int len = (int) rowLength();
        System.arraycopy(values, (int) (row * len), dst, 0, count * len);
    }
}
