package dev.requant.runtime;

import dev.requant.runtime.model.WeightTensor;

/**
 * Computes chosen dense products of a forward pass in another way than the backend's own kernels: the FP4 verifier
 * quantizes the activations to NVFP4 and multiplies them with the NVFP4 weights (W4A4, emulated on the CPU or the GPU,
 * or cuBLASLt's block-scaled FP4 GEMM on Blackwell). The backend asks it before each dense product ({@code attn_q/k/v},
 * {@code attn_output}, {@code ffn_gate/up/down}, the Gemma 4 per-layer projections), after the
 * {@link ActivationObserver} has seen the input, on the calling thread.
 */
public interface MatMulOverride {
    /**
     * Either computes {@code y[t * w.rows() + o] = Σ_k x[t * w.cols() + k] · W[o][k]} (with the weight's output scale)
     * for {@code t < nRows} and returns true, or returns false and leaves {@code y} alone for the backend.
     *
     * @param x the backend's buffer, {@code nRows * w.cols()} meaningful floats; read only
     */
    boolean multiply(WeightTensor w, float[] x, int nRows, float[] y);
}
