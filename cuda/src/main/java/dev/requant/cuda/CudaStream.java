package dev.requant.cuda;

import java.lang.foreign.MemorySegment;

/** A CUDA stream: work queued on it runs in order. The default stream is {@link CudaDevice#defaultStream()}. */
public final class CudaStream implements AutoCloseable {
    private final CudaDriver driver;
    private final MemorySegment handle;
    private final boolean owned;

    CudaStream(CudaDriver driver, MemorySegment handle, boolean owned) {
        this.driver = driver;
        this.handle = handle;
        this.owned = owned;
    }

    MemorySegment handle() { return handle; }

    /** Blocks until everything queued so far has finished; a kernel's asynchronous error surfaces here. */
    public void synchronize() { driver.streamSynchronize(handle); }

    /** Work queued here after this call starts once {@code e}'s recorded work has finished (the host does not block). */
    public void waitFor(CudaEvent e) { driver.streamWaitEvent(handle, e.handle()); }

    @Override
    public void close() {
        if (owned) driver.streamDestroy(handle);
    }
}
