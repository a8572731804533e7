package dev.requant.runtime.fp4;

import dev.requant.formats.ggml.GgmlType;
import dev.requant.formats.gguf.GgufTensorSpec;
import dev.requant.formats.io.LittleEndian;
import dev.requant.formats.model.ModelSource;
import dev.requant.runtime.MatMulOverride;
import dev.requant.runtime.model.WeightTensor;
import java.util.HashMap;
import java.util.Map;
import java.util.concurrent.atomic.AtomicLong;

/**
 * W4A4 for a forward pass: every dense product with an NVFP4 weight quantizes its input to NVFP4 blocks with the
 * weight's {@code <name>.input_scale} (the checkpoint's static activation scale) and runs on an {@link Fp4Gemm}.
 * A weight without an input scale (weight-only W4A16 checkpoints) gets a dynamic one, {@code amax(x) / (6·448)} of
 * each call's input, and is counted as such. Other weights are left to the backend.
 */
public final class W4a4MatMul implements MatMulOverride {
    private final Map<String, Float> inputScales = new HashMap<>();
    private final Fp4Gemm gemm;
    private final AtomicLong staticCalls = new AtomicLong(), dynamicCalls = new AtomicLong();

    public W4a4MatMul(ModelSource source, Fp4Gemm gemm) {
        this.gemm = gemm;
        inputScales.putAll(inputScales(source));
    }

    /** The checkpoint's static activation scales ({@code <name>.input_scale}, F32) by weight name ({@code <name>.weight}). */
    public static Map<String, Float> inputScales(ModelSource source) {
        Map<String, Float> m = new HashMap<>();
        for (GgufTensorSpec s : source.tensors()) {
            if (!s.name().endsWith(".input_scale") || s.type() != GgmlType.F32) continue;
            float v = source.data(s.name()).get(LittleEndian.FLOAT, 0);
            m.put(s.name().substring(0, s.name().length() - ".input_scale".length()) + ".weight", v);
        }
        return m;
    }

    /** The input scales found, by weight name. */
    public Map<String, Float> inputScales() { return Map.copyOf(inputScales); }

    public long staticCalls() { return staticCalls.get(); }

    public long dynamicCalls() { return dynamicCalls.get(); }

    public Fp4Gemm gemm() { return gemm; }

    @Override
    public boolean multiply(WeightTensor w, float[] x, int nRows, float[] y) {
        if (w.type() != GgmlType.NVFP4 || w.matrices() != 1) return false;
        Float s = inputScales.get(w.name());
        float sIn;
        if (s != null && Float.isFinite(s) && s > 0f) {
            sIn = s;
            staticCalls.incrementAndGet();
        } else {
            float amax = 0f;
            for (int i = 0; i < nRows * w.cols(); i++) amax = Math.max(amax, Math.abs(x[i]));
            sIn = amax > 0f ? amax / 2688f : 1f;
            dynamicCalls.incrementAndGet();
        }
        gemm.multiply(w.name(), w.data(), w.rows(), w.cols(), x, nRows, 1f / sIn, sIn * w.outputScale(0), y);
        return true;
    }
}
