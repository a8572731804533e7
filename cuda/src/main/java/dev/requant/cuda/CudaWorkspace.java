package dev.requant.cuda;

/** One device allocation holding every region of a {@link WorkspaceLayout}. */
public final class CudaWorkspace implements AutoCloseable {
    private final CudaDevice device;
    private final WorkspaceLayout layout;
    private final DeviceBuffer memory;
    private boolean closed;

    private CudaWorkspace(CudaDevice device, WorkspaceLayout layout, DeviceBuffer memory) {
        this.device = device;
        this.layout = layout;
        this.memory = memory;
    }

    /** Allocates the whole layout at once; fails with the sizes when the GPU has too little free memory. */
    public static CudaWorkspace allocate(CudaDevice device, WorkspaceLayout layout) {
        long total = layout.totalBytes();
        long[] mem = device.memoryInfo();
        if (total > mem[0]) {
            throw new CudaException(String.format("the workspace needs %.2f GiB, the GPU has %.2f GiB free of %.2f GiB",
                    total / (double) (1L << 30), mem[0] / (double) (1L << 30), mem[1] / (double) (1L << 30)));
        }
        return new CudaWorkspace(device, layout, device.allocate(total));
    }

    public WorkspaceLayout layout() { return layout; }

    /** The region named {@code name}. */
    public DeviceBuffer get(String name) {
        if (closed) throw new IllegalStateException("workspace is closed");
        WorkspaceLayout.Region r = layout.region(name);
        return memory.slice(r.offset(), r.bytes());
    }

    public DeviceBuffer whole() { return memory; }

    @Override
    public void close() {
        if (closed) return;
        closed = true;
        device.free(memory);
    }
}
