package dev.requant.cuda;

import java.util.Locale;

/** The {@code --device cpu|cuda|auto} choice of commands that can run on a GPU. */
public enum ComputeDevice {
    CPU, CUDA, AUTO;

    public static ComputeDevice parse(String s) {
        try {
            return valueOf(s.strip().toUpperCase(Locale.ROOT));
        } catch (IllegalArgumentException e) {
            throw new IllegalArgumentException("unknown device '" + s + "' (use cpu, cuda or auto)");
        }
    }

    /**
     * Opens the GPU when asked for one: null for CPU, and for AUTO when none is usable (the reason goes to
     * {@code onFallback}); CUDA without a usable GPU is an error carrying the reason.
     */
    public CudaDevice open(java.util.function.Consumer<String> onFallback) throws CudaUnavailableException {
        return switch (this) {
            case CPU -> null;
            case CUDA -> CudaDevice.open();
            case AUTO -> {
                try {
                    yield CudaDevice.open();
                } catch (CudaUnavailableException e) {
                    onFallback.accept(e.getMessage());
                    yield null;
                }
            }
        };
    }
}
