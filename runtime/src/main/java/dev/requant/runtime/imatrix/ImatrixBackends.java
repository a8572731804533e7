package dev.requant.runtime.imatrix;

import dev.requant.cuda.ComputeDevice;
import dev.requant.cuda.CudaDevice;
import dev.requant.cuda.CudaException;
import dev.requant.cuda.CudaUnavailableException;
import dev.requant.formats.FormatException;
import dev.requant.formats.imatrix.ImatrixAccumulator;
import dev.requant.formats.model.GemmaConfig;
import dev.requant.formats.model.ModelSource;
import dev.requant.runtime.cpu.CpuModel;
import dev.requant.runtime.cpu.CpuThreads;
import dev.requant.runtime.cuda.CudaImatrixBackend;
import dev.requant.runtime.model.GemmaWeights;
import java.util.function.Consumer;

/** Chooses and opens the {@link ImatrixBackend} for {@code --device cpu|cuda|auto}. */
public final class ImatrixBackends {
    private ImatrixBackends() {}

    /**
     * The backend for a model: with {@code CUDA}, the GPU or an error saying why not; with {@code AUTO}, the GPU when
     * one is usable and runs this model, else the CPU (the reason goes to {@code log}); with {@code CPU}, the CPU.
     *
     * @param acc the starting state the backend adds to (empty, or a resumed file)
     * @param gpuInputs how the GPU pass feeds its bf16 GEMMs (see {@link CudaImatrixBackend.GemmInputs})
     * @throws CudaUnavailableException for {@code --device cuda} without a usable GPU, a model the GPU pass does not
     *     run, or one that does not fit in GPU memory, with a one-line reason
     */
    public static ImatrixBackend open(ComputeDevice device, ModelSource src, ImatrixAccumulator acc, ImatrixSettings s,
                                      int threads, CudaImatrixBackend.GemmInputs gpuInputs, Consumer<String> log)
            throws FormatException, CudaUnavailableException {
        GemmaConfig c = GemmaConfig.of(src);
        GemmaWeights w = GemmaWeights.load(src, c);
        CudaDevice gpu = device.open(reason -> log.accept("--device auto: " + reason + "; collecting on the CPU"));
        if (gpu != null) {
            try {
                return CudaImatrixBackend.open(gpu, c, w, acc, s.processOutput(), s.nCtx(), s.nSeq(), gpuInputs, log);
            } catch (UnsupportedOperationException | CudaUnavailableException | CudaException e) {
                // a model the GPU pass does not run, no NVRTC/cuBLAS, or too little GPU memory for the weights
                gpu.close();
                if (device == ComputeDevice.CUDA) {
                    throw e instanceof CudaUnavailableException cu ? cu : new CudaUnavailableException(e.getMessage());
                }
                log.accept("--device auto: " + e.getMessage() + "; collecting on the CPU");
            }
        }
        return new CpuImatrixBackend(new CpuModel(c, w, new CpuThreads(threads), true, true), acc, s.processOutput(), true);
    }
}
