package dev.requant.cuda;

import java.lang.foreign.MemorySegment;

/** One kernel of a module; launched with a grid, a block, dynamic shared memory, a stream and its arguments. */
public final class CudaKernel {
    private final CudaDriver driver;
    private final MemorySegment function;
    private final String name;

    CudaKernel(CudaDriver driver, MemorySegment function, String name) {
        this.driver = driver;
        this.function = function;
        this.name = name;
    }

    public String name() { return name; }

    /** Lets the kernel use more than 48 KiB of dynamic shared memory. */
    public void maxDynamicSharedMemory(int bytes) {
        driver.functionAttribute(function, CudaDriver.CU_FUNC_ATTRIBUTE_MAX_DYNAMIC_SHARED_SIZE_BYTES, bytes);
    }

    public void launch(int gx, int gy, int gz, int block, int sharedBytes, CudaStream stream, KernelArgs args) {
        if (gx <= 0 || gy <= 0 || gz <= 0) return; // nothing to do: an empty grid is not an error for us
        driver.launch(function, gx, gy, gz, block, 1, 1, sharedBytes, stream.handle(), args.pointers(), name);
    }
}
