package dev.requant.cuda;

/** A CUDA, NVRTC or cuBLAS call returned an error: names the call and the library's name for the error code. */
public final class CudaException extends RuntimeException {
    private final int code;

    public CudaException(String call, int code, String name) {
        super(call + " failed: " + name + " (" + code + ")");
        this.code = code;
    }

    public CudaException(String message) {
        super(message);
        this.code = -1;
    }

    /** The library's status code, or -1. */
    public int code() { return code; }
}
