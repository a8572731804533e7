package dev.requant.runtime;

import java.util.LinkedHashMap;
import java.util.Map;

/**
 * The largest |x| each weight's input reaches over a calibration run, which is what ModelOpt's static activation
 * quantizers record ({@code input_scale = amax / (6 · 448)} for NVFP4). Dense and expert products both count.
 */
public final class ActivationAmax implements ActivationObserver {
    private final Map<String, Float> amax = new LinkedHashMap<>();

    @Override
    public void onMatMul(String weight, float[] rows, int nRows, int cols) {
        record(weight, rows, nRows * cols);
    }

    @Override
    public void onExpertMatMul(String weight, int expert, int nExperts, float[] rows, int nRows, int cols) {
        record(weight, rows, nRows * cols);
    }

    private void record(String weight, float[] rows, int n) {
        float m = amax.getOrDefault(weight, 0f);
        for (int i = 0; i < n; i++) {
            float v = Math.abs(rows[i]);
            if (v > m) m = v;
        }
        amax.put(weight, m);
    }

    /** Max |x| by GGUF weight name, in first-seen order. */
    public Map<String, Float> values() { return Map.copyOf(amax); }
}
