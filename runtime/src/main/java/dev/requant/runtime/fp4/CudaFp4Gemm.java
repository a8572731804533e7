package dev.requant.runtime.fp4;

import dev.requant.cuda.CudaDevice;
import dev.requant.cuda.CudaStream;
import dev.requant.cuda.CudaUnavailableException;
import dev.requant.cuda.DeviceBuffer;
import dev.requant.cuda.Nvfp4Kernels;
import java.lang.foreign.MemorySegment;
import java.util.HashMap;
import java.util.Map;

/**
 * The W4A4 emulation on a CUDA GPU (nvfp4.cu): activations quantized and multiplied on the device with the same
 * float32 operations in the same order as {@link W4a4Reference}, so its products are the CPU emulation's, float for
 * float. Weights are uploaded once per name; activation buffers grow as needed.
 */
public final class CudaFp4Gemm implements Fp4Gemm {
    private final CudaDevice device;
    private final Nvfp4Kernels kernels;
    private final CudaStream stream;
    private final Map<String, DeviceBuffer> weights = new HashMap<>();
    private DeviceBuffer x, codes, scales, y;

    public CudaFp4Gemm(CudaDevice device) throws CudaUnavailableException {
        this.device = device;
        this.kernels = Nvfp4Kernels.load(device);
        this.stream = device.defaultStream();
    }

    private DeviceBuffer grow(DeviceBuffer b, long bytes) {
        if (b != null && b.bytes() >= bytes) return b;
        if (b != null) device.free(b);
        return device.allocate(Math.max(bytes, 256));
    }

    @Override
    public synchronized void multiply(String weightName, MemorySegment weight, int rows, int cols, float[] xs, int nRows, float gs, float alpha, float[] ys) {
        device.makeCurrent();
        DeviceBuffer w = weights.get(weightName);
        if (w == null) {
            w = device.allocate(weight.byteSize());
            device.copyToDevice(weight, w);
            weights.put(weightName, w);
        }
        long n = (long) nRows * cols;
        x = grow(x, n * 4);
        codes = grow(codes, n);
        scales = grow(scales, n / 16);
        y = grow(y, (long) nRows * rows * 4);
        device.copyToDevice(MemorySegment.ofArray(xs).asSlice(0, n * 4), x.slice(0, n * 4));
        kernels.quantizeActivations(stream, x.slice(0, n * 4), nRows, cols, gs, codes.slice(0, n), scales.slice(0, n / 16));
        kernels.w4a4Emulated(stream, codes, scales, nRows, w, rows, cols, alpha, y, rows);
        stream.synchronize();
        device.copyToHost(y.slice(0, (long) nRows * rows * 4), MemorySegment.ofArray(ys).asSlice(0, (long) nRows * rows * 4));
    }

    /** The activation codes and scales of the last call, for tests that compare the quantizer alone. */
    public synchronized byte[][] lastActivations(int nRows, int cols) {
        long n = (long) nRows * cols;
        byte[] c = new byte[(int) n], s = new byte[(int) (n / 16)];
        device.copyToHost(codes.slice(0, n), MemorySegment.ofArray(c));
        device.copyToHost(scales.slice(0, n / 16), MemorySegment.ofArray(s));
        return new byte[][] {c, s};
    }

    @Override
    public String description() { return "CUDA emulation (" + device.info().name() + ", " + device.info().arch() + ")"; }

    @Override
    public synchronized void close() {
        device.makeCurrent();
        for (DeviceBuffer b : weights.values()) device.free(b);
        weights.clear();
        for (DeviceBuffer b : new DeviceBuffer[] {x, codes, scales, y}) if (b != null) device.free(b);
        x = codes = scales = y = null;
        kernels.close();
    }
}
