package dev.requant.runtime.fp4;

import java.lang.foreign.MemorySegment;

/** A W4A4 product engine: quantizes float activations to NVFP4 blocks and multiplies them with GGML NVFP4 weights. */
public interface Fp4Gemm extends AutoCloseable {
    /**
     * {@code y[t * rows + o]} for {@code t < nRows}, {@code o < rows}.
     *
     * @param weightName the GGUF name (engines may cache the weight's device copy by it)
     * @param weight GGML NVFP4 bytes, {@code rows} rows of {@code cols}
     * @param x {@code nRows * cols} activations
     * @param gs the activation quantization multiplier, {@code 1 / input_scale}
     * @param alpha {@code input_scale · weight_scale}
     */
    void multiply(String weightName, MemorySegment weight, int rows, int cols, float[] x, int nRows, float gs, float alpha, float[] y);

    /** What runs the products ("cpu emulation", "cuda emulation (sm_90)", "cublasLt block-scaled FP4 (sm_120)"). */
    String description();

    @Override
    default void close() {}
}
