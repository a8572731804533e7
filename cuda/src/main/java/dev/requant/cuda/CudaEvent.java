package dev.requant.cuda;

import java.lang.foreign.MemorySegment;

/** A CUDA event: timing work on a stream (device time, not host time), or ordering work between streams. */
public final class CudaEvent implements AutoCloseable {
    private final CudaDriver driver;
    private final MemorySegment handle;

    CudaEvent(CudaDriver driver, MemorySegment handle) {
        this.driver = driver;
        this.handle = handle;
    }

    MemorySegment handle() { return handle; }

    public CudaEvent record(CudaStream s) {
        driver.eventRecord(handle, s.handle());
        return this;
    }

    public void synchronize() { driver.eventSynchronize(handle); }

    /** Milliseconds from {@code start} to this event; both must have been recorded and this one completed. */
    public float millisSince(CudaEvent start) {
        synchronize();
        return driver.elapsedMillis(start.handle, handle);
    }

    @Override
    public void close() { driver.eventDestroy(handle); }
}
