/**
 * The Gemma 3 / Gemma 4 forward pass, in three layers that other backends and tools reuse separately.
 *
 * <ul>
 *   <li>{@link dev.requant.runtime.model}: the model's weights, backend-neutral. What the model is comes from
 *       {@link dev.requant.formats.model.GemmaConfig}{@code .of(source)}, shared with the converter: the
 *       {@code gemma3.*}/{@code gemma4.*} GGUF keys read into a record (per-layer {@code LayerConfig}: sliding or
 *       global, head size and KV heads, RoPE base/scale/dims, FFN width, which layer's KV cache it reads);
 *       {@code GemmaWeights.load(source, config)} finds every tensor by GGUF name, checks its dims and returns
 *       {@code WeightTensor} views (type, ne, bytes) of the {@link dev.requant.formats.model.ModelSource}. A CUDA
 *       backend uploads these views; nothing here depends on the CPU backend.</li>
 *   <li>{@link dev.requant.runtime.cpu}: the CPU backend. {@code CpuModel.load(source, threads)} then
 *       {@code model.newSession(contextSize)}; {@code session.decode(tokens, off, n, wantLogits, sink)} appends a
 *       batch to the KV cache and hands the logits of the requested rows to the sink; {@code session.logits(tokens)}
 *       is the all-rows convenience. {@code session.setObserver(...)} installs an
 *       {@link dev.requant.runtime.ActivationObserver} (the imatrix hook).</li>
 *   <li>{@link dev.requant.runtime.eval}: llama-perplexity's PPL/KLD over any backend's logits
 *       ({@code Evaluator.run}, {@code TokenScores}, {@code LogitsFile}).</li>
 *   <li>{@link dev.requant.runtime.imatrix}: llama-imatrix's collection ({@code ChunkPlan}: chunks, batches and the
 *       rows collected; {@code ImatrixCollector.run}: the loop, periodic saves, resuming) over an
 *       {@code ImatrixBackend}: {@code CpuImatrixBackend} (the CPU pass with an {@code ImatrixObserver}) or
 *       {@link dev.requant.runtime.cuda.CudaImatrixBackend} (the batched GPU pass with on-GPU sums);
 *       {@code ImatrixBackends.open} maps {@code --device cpu|cuda|auto} onto them.</li>
 * </ul>
 */
package dev.requant.runtime;
