package dev.requant.cuda;

import java.lang.foreign.MemorySegment;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * One GPU through the CUDA driver API: its primary context (made current on the opening thread; other threads call
 * {@link #makeCurrent()}), memory, copies, streams, events and compiled modules, and on demand NVRTC and cuBLAS.
 *
 * <p>{@link #open} throws {@link CudaUnavailableException} with a one-line reason when this machine has no driver
 * library, no GPU, or a driver that fails to initialise.
 */
public final class CudaDevice implements AutoCloseable {
    private static final Logger LOG = LoggerFactory.getLogger(CudaDevice.class);

    /** What the driver says about the GPU. */
    public record Info(int ordinal, String name, int computeMajor, int computeMinor, int multiprocessors,
                       long totalMemory, int driverVersion, int maxSharedMemoryPerBlock) {
        /** The real architecture NVRTC compiles for, e.g. "sm_90". */
        public String arch() { return "sm_" + computeMajor + computeMinor; }

        /** "13.0" for 13000. */
        public String driverCudaVersion() { return driverVersion / 1000 + "." + driverVersion % 1000 / 10; }

        @Override
        public String toString() {
            return String.format("%s (%s, %d SMs, %.1f GiB, driver CUDA %s)", name, arch(), multiprocessors,
                    totalMemory / (double) (1L << 30), driverCudaVersion());
        }
    }

    private final CudaDriver driver;
    private final CudaLibraries libraries;
    private final int device;
    private final MemorySegment context;
    private final Info info;
    private final CudaStream defaultStream;
    private Nvrtc nvrtc;
    private boolean closed;

    private CudaDevice(CudaDriver driver, CudaLibraries libraries, int ordinal) {
        this.driver = driver;
        this.libraries = libraries;
        this.device = driver.device(ordinal);
        this.context = driver.primaryContextRetain(device);
        driver.setCurrent(context);
        this.info = new Info(ordinal, driver.deviceName(device),
                driver.attribute(CudaDriver.CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MAJOR, device),
                driver.attribute(CudaDriver.CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MINOR, device),
                driver.attribute(CudaDriver.CU_DEVICE_ATTRIBUTE_MULTIPROCESSOR_COUNT, device),
                driver.totalMemory(device), driver.driverVersion(),
                driver.attribute(CudaDriver.CU_DEVICE_ATTRIBUTE_MAX_SHARED_MEMORY_PER_BLOCK_OPTIN, device));
        this.defaultStream = new CudaStream(driver, MemorySegment.NULL, false);
    }

    /** GPU {@code REQUANT_CUDA_DEVICE} (default 0). */
    public static CudaDevice open() throws CudaUnavailableException {
        String env = System.getenv("REQUANT_CUDA_DEVICE");
        int ordinal = 0;
        if (env != null && !env.isBlank()) {
            try {
                ordinal = Integer.parseInt(env.strip());
            } catch (NumberFormatException e) {
                throw new CudaUnavailableException("REQUANT_CUDA_DEVICE=" + env + " is not a GPU number");
            }
        }
        return open(ordinal, CudaLibraries.fromEnvironment());
    }

    public static CudaDevice open(int ordinal, CudaLibraries libraries) throws CudaUnavailableException {
        CudaDriver driver = loadDriver(libraries);
        int rc = driver.init();
        if (rc == CudaDriver.CUDA_ERROR_NO_DEVICE) throw new CudaUnavailableException("no CUDA: the driver sees no GPU");
        if (rc != 0) throw new CudaUnavailableException("no CUDA: cuInit failed: " + driver.errorName(rc) + " (" + rc + ")");
        int count = driver.deviceCount();
        if (count == 0) throw new CudaUnavailableException("no CUDA: the driver sees no GPU");
        if (ordinal < 0 || ordinal >= count) {
            throw new CudaUnavailableException("no CUDA device " + ordinal + ": the driver sees " + count);
        }
        try {
            CudaDevice d = new CudaDevice(driver, libraries, ordinal);
            LOG.debug("CUDA device {}: {}", ordinal, d.info);
            return d;
        } catch (CudaException e) {
            throw new CudaUnavailableException("no CUDA: " + e.getMessage(), e);
        }
    }

    private static CudaDriver loadDriver(CudaLibraries libraries) throws CudaUnavailableException {
        NativeLibrary lib = NativeLibrary.byName("libcuda.so.1").orElse(null);
        if (lib == null) {
            var path = libraries.find(CudaLibraries.DRIVER);
            if (path.isEmpty()) throw new CudaUnavailableException("no CUDA: libcuda.so.1 not found (no NVIDIA driver on this machine)");
            lib = NativeLibrary.byPath(path.get());
        }
        try {
            return new CudaDriver(lib);
        } catch (CudaUnavailableException e) {
            throw new CudaUnavailableException("no CUDA: " + e.getMessage(), e);
        }
    }

    /** Whether a GPU can be opened here, and if not, why: for skip messages and --device auto. */
    public static String unavailableReason() {
        try (CudaDevice d = open()) {
            return null;
        } catch (CudaUnavailableException e) {
            return e.getMessage();
        }
    }

    public Info info() { return info; }

    public CudaLibraries libraries() { return libraries; }

    /** Makes this device's context current on the calling thread. */
    public void makeCurrent() { driver.setCurrent(context); }

    public void synchronize() { driver.synchronize(); }

    /** {free, total} bytes. */
    public long[] memoryInfo() { return driver.memoryInfo(); }

    // ---------------------------------------------------------------- memory

    /** A new device allocation; callers that run per token use one {@link CudaWorkspace} instead. */
    public DeviceBuffer allocate(long bytes) {
        return new DeviceBuffer(driver.malloc(Math.max(bytes, 1)), bytes);
    }

    public void free(DeviceBuffer b) { driver.free(b.address()); }

    /** Page-locked host memory of {@code bytes}, freed with {@link #freeHost}. */
    public MemorySegment allocateHost(long bytes) { return driver.hostAlloc(bytes); }

    public void freeHost(MemorySegment s) { driver.hostFree(s); }

    /** Synchronous copy of a host segment (heap or native) into device memory. */
    public void copyToDevice(MemorySegment src, DeviceBuffer dst) {
        dst.require(src.byteSize(), 1, "copy to device");
        if (src.isNative()) {
            driver.copyHtoD(dst.address(), src, src.byteSize());
        } else {
            try (var a = java.lang.foreign.Arena.ofConfined()) {
                MemorySegment tmp = a.allocate(src.byteSize(), 16);
                tmp.copyFrom(src);
                driver.copyHtoD(dst.address(), tmp, src.byteSize());
            }
        }
    }

    /**
     * Asynchronous copy of page-locked host memory ({@link #allocateHost}) into device memory on stream {@code s}: the
     * host returns at once, and {@code src} must stay unchanged until the copy has run.
     */
    public void copyToDeviceAsync(MemorySegment src, DeviceBuffer dst, CudaStream s) {
        dst.require(src.byteSize(), 1, "copy to device");
        if (!src.isNative()) throw new IllegalArgumentException("an asynchronous copy needs page-locked host memory");
        driver.copyHtoDAsync(dst.address(), src, src.byteSize(), s.handle());
    }

    /**
     * Asynchronous copy of device memory into page-locked host memory ({@link #allocateHost}) on stream {@code s}: the
     * host returns at once; {@code dst} holds the bytes once the stream (or an event recorded after it) has reached it.
     */
    public void copyToHostAsync(DeviceBuffer src, MemorySegment dst, CudaStream s) {
        src.require(dst.byteSize(), 1, "copy to host");
        if (!dst.isNative()) throw new IllegalArgumentException("an asynchronous copy needs page-locked host memory");
        driver.copyDtoHAsync(dst, src.address(), dst.byteSize(), s.handle());
    }

    /** Synchronous copy of device memory into a host segment (all of it). */
    public void copyToHost(DeviceBuffer src, MemorySegment dst) {
        src.require(dst.byteSize(), 1, "copy to host");
        if (dst.isNative()) {
            driver.copyDtoH(dst, src.address(), dst.byteSize());
        } else {
            try (var a = java.lang.foreign.Arena.ofConfined()) {
                MemorySegment tmp = a.allocate(dst.byteSize(), 16);
                driver.copyDtoH(tmp, src.address(), dst.byteSize());
                dst.copyFrom(tmp);
            }
        }
    }

    public void copyToDevice(float[] src, DeviceBuffer dst) { copyToDevice(MemorySegment.ofArray(src), dst); }

    public void copyToDevice(int[] src, DeviceBuffer dst) { copyToDevice(MemorySegment.ofArray(src), dst); }

    public void copyToDevice(short[] src, DeviceBuffer dst) { copyToDevice(MemorySegment.ofArray(src), dst); }

    public void copyToDevice(byte[] src, DeviceBuffer dst) { copyToDevice(MemorySegment.ofArray(src), dst); }

    public float[] floats(DeviceBuffer src, int n) {
        float[] out = new float[n];
        copyToHost(src, MemorySegment.ofArray(out));
        return out;
    }

    public short[] shorts(DeviceBuffer src, int n) {
        short[] out = new short[n];
        copyToHost(src, MemorySegment.ofArray(out));
        return out;
    }

    public long[] longs(DeviceBuffer src, int n) {
        long[] out = new long[n];
        copyToHost(src, MemorySegment.ofArray(out));
        return out;
    }

    public int[] ints(DeviceBuffer src, int n) {
        int[] out = new int[n];
        copyToHost(src, MemorySegment.ofArray(out));
        return out;
    }

    public void copy(DeviceBuffer src, DeviceBuffer dst) {
        dst.require(src.bytes(), 1, "device copy");
        driver.copyDtoD(dst.address(), src.address(), src.bytes());
    }

    /** Sets every 32-bit word of {@code b} to {@code bits} (e.g. a float's raw bits, to poison outputs in tests). */
    public void fill32(DeviceBuffer b, int bits) { driver.memsetD32(b.address(), bits, b.bytes() / 4); }

    public void fill32(DeviceBuffer b, int bits, CudaStream s) { driver.memsetD32Async(b.address(), bits, b.bytes() / 4, s.handle()); }

    public void zero(DeviceBuffer b) { driver.memsetD8(b.address(), 0, b.bytes()); }

    // ---------------------------------------------------------------- streams, events, modules

    /** The legacy default stream (synchronises with all others). */
    public CudaStream defaultStream() { return defaultStream; }

    public CudaStream createStream() { return new CudaStream(driver, driver.streamCreate(), true); }

    public CudaEvent createEvent() { return new CudaEvent(driver, driver.eventCreate()); }

    public CudaModule loadModule(byte[] cubin) { return new CudaModule(driver, cubin); }

    /** NVRTC, loaded on first use. */
    public synchronized Nvrtc nvrtc() throws CudaUnavailableException {
        if (nvrtc == null) nvrtc = Nvrtc.load(libraries);
        return nvrtc;
    }

    /** A new cuBLAS handle in this context (one per stream that runs GEMMs). */
    public Cublas createCublas() throws CudaUnavailableException {
        makeCurrent();
        return Cublas.create(libraries);
    }

    @Override
    public synchronized void close() {
        if (closed) return;
        closed = true;
        driver.primaryContextRelease(device);
    }
}
