package dev.requant.cuda;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.util.HashMap;
import java.util.Map;

/** A loaded cubin and its kernels by name. */
public final class CudaModule implements AutoCloseable {
    private final CudaDriver driver;
    private final MemorySegment handle;
    private final Map<String, CudaKernel> kernels = new HashMap<>();

    CudaModule(CudaDriver driver, byte[] image) {
        this.driver = driver;
        try (Arena a = Arena.ofConfined()) {
            MemorySegment img = a.allocate(image.length + 1L, 16);
            img.copyFrom(MemorySegment.ofArray(image));
            this.handle = driver.moduleLoad(img);
        }
    }

    /** The kernel named {@code name} (extern "C"). */
    public synchronized CudaKernel kernel(String name) {
        return kernels.computeIfAbsent(name, n -> new CudaKernel(driver, driver.function(handle, n), n));
    }

    @Override
    public void close() { driver.moduleUnload(handle); }
}
