package dev.requant.cuda;

/**
 * No usable CUDA here: no driver library, no GPU, or a library the requested work needs is missing. The message is
 * one line that says which (for {@code --device auto} to log before falling back to the CPU, and for tests to show
 * as their skip reason).
 */
public final class CudaUnavailableException extends Exception {
    public CudaUnavailableException(String reason) {
        super(reason);
    }

    public CudaUnavailableException(String reason, Throwable cause) {
        super(reason, cause);
    }
}
