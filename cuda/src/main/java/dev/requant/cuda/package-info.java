/**
 * CUDA from Java through FFM (java.lang.foreign): no JNI, no JCuda, no native code of our own.
 *
 * <ul>
 *   <li>{@link dev.requant.cuda.CudaDevice} opens a GPU (primary context) or throws
 *       {@link dev.requant.cuda.CudaUnavailableException} with a one-line reason; {@link dev.requant.cuda.ComputeDevice}
 *       maps {@code --device cpu|cuda|auto} onto it.</li>
 *   <li>{@link dev.requant.cuda.CudaKernels} compiles {@code kernels.cu} with NVRTC for the GPU's own architecture
 *       (a cubin, so no PTX JIT), caches it ({@link dev.requant.cuda.KernelCache}) and launches the kernels with
 *       typed arguments; {@link dev.requant.cuda.CudaGemm} runs row-major products through cuBLAS.</li>
 *   <li>{@link dev.requant.cuda.CudaWorkspace} is the one device allocation a forward pass needs, planned up front by a
 *       {@link dev.requant.cuda.WorkspaceLayout}; launches reuse one {@link dev.requant.cuda.KernelArgs} buffer, so
 *       nothing is allocated per token.</li>
 * </ul>
 *
 * <p>How a Gemma layer is meant to be assembled from these pieces (activations f32, weights bf16 on the device,
 * dequantized once from Q8_0/Q4_0 with {@code dequantize(..., toBf16)}):
 * <pre>
 * x  = rmsNorm(h, attn_norm)              -> observe("blk.i.attn_q/k/v.weight", x)   imatrixDense into 3 sums
 * xb = f32ToBf16(x); q,k,v = gemm.bf16(xb, Wq/Wk/Wv)
 * q,k = rmsNorm per head (rows = tokens*heads); ropeNeox(q), ropeNeox(k); v = rmsNorm(v, null) (Gemma 4)
 * a  = attention(q, k, v)                  -> observe("blk.i.attn_output.weight", a)
 * h += rmsNorm(gemm(a, Wo), post_attention_norm)
 * y  = rmsNorm(h, ffn_norm)                -> observe("blk.i.ffn_gate/up.weight", y)
 * g  = gemm(y, [Wgate|Wup]); geluTanhMul(g) -> observe("blk.i.ffn_down.weight", g)
 * h += rmsNorm(gemm(g, Wdown), post_ffw_norm)
 * </pre>
 * {@code dev.requant.runtime.cuda.CudaSession} is this plan built, with these changes: Q|K|V and gate|up run as
 * one fused GEMM each; the Q/K/V norm, RoPE (host tables) and the move into head-major f16 are one kernel
 * ({@code qkvPrep}); attention is two cuBLAS strided-batched f16 GEMMs around {@code softmaxCausal}; the fused norms
 * and GEGLU also write the bf16 GEMM input, by default as a hi/lo split run through two GEMMs; the sums are
 * accumulated with {@code imatrixRows} (two passes over row segments, all SMs busy) instead of the one-thread-per-column
 * {@code imatrixDense}.
 * The imatrix sums live in the workspace for the whole run; {@code imatrixDense} adds each observed activation to
 * them in llama-imatrix's order (bit-identical to {@code ImatrixAccumulator.addDense} for the same activations), the
 * host adds the row counts, and the sums are copied back into the accumulator only to save a file.
 */
package dev.requant.cuda;
