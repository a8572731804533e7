package dev.requant.cuda;

/**
 * A range of device memory: an address and a size in bytes. It owns nothing; the allocation it lies in (usually the
 * {@link CudaWorkspace}) does. Slices are cheap views.
 */
public record DeviceBuffer(long address, long bytes) {
    public DeviceBuffer {
        if (bytes < 0) throw new IllegalArgumentException("negative size " + bytes);
    }

    /** {@code bytes} bytes from {@code offset}, within this buffer. */
    public DeviceBuffer slice(long offset, long bytes) {
        if (offset < 0 || bytes < 0 || offset + bytes > this.bytes) {
            throw new IndexOutOfBoundsException("slice [" + offset + ", " + (offset + bytes) + ") of a " + this.bytes + "-byte buffer");
        }
        return new DeviceBuffer(address + offset, bytes);
    }

    /** Fails unless the buffer holds at least {@code n} elements of {@code elementBytes} each. */
    public DeviceBuffer require(long n, int elementBytes, String what) {
        if (n * elementBytes > bytes) {
            throw new IllegalArgumentException(what + " needs " + n * elementBytes + " bytes, the buffer has " + bytes);
        }
        return this;
    }
}
