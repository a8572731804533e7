package dev.requant.runtime.device;

import dev.requant.cuda.ComputeDevice;
import dev.requant.cuda.CudaDevice;
import dev.requant.cuda.CudaException;
import dev.requant.cuda.CudaUnavailableException;
import dev.requant.runtime.ForwardSession;
import dev.requant.runtime.SessionSpec;
import dev.requant.runtime.cpu.CpuForwardSession;
import dev.requant.runtime.cpu.CpuModel;
import dev.requant.runtime.cpu.CpuThreads;
import dev.requant.runtime.cuda.CudaSession;
import dev.requant.formats.model.GemmaConfig;
import dev.requant.runtime.model.GemmaWeights;
import java.util.function.Consumer;

/**
 * Opens the {@link ForwardSession} for {@code --device cpu|cuda|auto}: the only place that knows both backends, so
 * that imatrix collection and evaluation depend on the session interface alone.
 */
public final class Sessions {
    private Sessions() {}

    /**
     * A session for a model: with {@code CUDA}, the GPU or an error saying why not; with {@code AUTO}, the GPU when one
     * is usable and runs this model, else the CPU (the reason goes to {@code log}); with {@code CPU}, the CPU. A CPU
     * session runs the sequences of a batch one after another.
     *
     * @param cpuThreads the CPU sessions' thread team; not closed by the session (several models may share it)
     * @throws CudaUnavailableException for {@code CUDA} without a usable GPU, a model the GPU pass does not run, or
     *     one that does not fit in GPU memory, with a one-line reason
     */
    public static ForwardSession open(ComputeDevice device, GemmaConfig c, GemmaWeights w, SessionSpec spec,
                                      CpuThreads cpuThreads, Consumer<String> log) throws CudaUnavailableException {
        CudaDevice gpu = device.open(reason -> log.accept("--device auto: " + reason + "; running on the CPU"));
        if (gpu != null) {
            try {
                return CudaSession.open(gpu, c, w, spec, log);
            } catch (UnsupportedOperationException | CudaUnavailableException | CudaException e) {
                // a model the GPU pass does not run, no NVRTC/cuBLAS, or too little GPU memory for the weights
                gpu.close();
                if (device == ComputeDevice.CUDA) {
                    throw e instanceof CudaUnavailableException cu ? cu : new CudaUnavailableException(e.getMessage());
                }
                log.accept("--device auto: " + e.getMessage() + "; running on the CPU");
            }
        }
        return new CpuForwardSession(new CpuModel(c, w, cpuThreads, false, true), spec, true);
    }
}
