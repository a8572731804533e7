package dev.requant.runtime;

/**
 * Where a GPU session keeps a model's weights ({@code --gpu-weights}); ignored on the CPU.
 * <ul>
 *   <li>{@code RESIDENT}: every weight on the GPU (fails when they do not fit).</li>
 *   <li>{@code STREAM}: every layer's weights in page-locked host memory, uploaded layer by layer into two GPU
 *       buffers, the next layer's upload overlapping this layer's compute (results are identical: same kernels, same
 *       order, same bytes).</li>
 *   <li>{@code AUTO}: resident when the weights fit the GPU's free memory beside the workspace, else as many leading
 *       layers resident as fit and the rest streamed.</li>
 * </ul>
 */
public enum GpuWeights { AUTO, RESIDENT, STREAM }
