package dev.requant.runtime.fp4;

import dev.requant.cuda.CublasLtFp4;
import dev.requant.cuda.CudaDevice;
import dev.requant.cuda.CudaStream;
import dev.requant.cuda.CudaUnavailableException;
import dev.requant.cuda.DeviceBuffer;
import dev.requant.formats.nvfp4.GgmlNvfp4Rows;
import java.lang.foreign.MemorySegment;
import java.util.HashMap;
import java.util.Map;

/**
 * The native W4A4 path on Blackwell: cuBLASLt's block-scaled FP4 GEMM ({@link CublasLtFp4}). The activations are
 * quantized exactly as the emulation does ({@link Nvfp4Activations}), both operands are packed two codes per byte
 * (element 2i in the low nibble) with their E4M3 block scales in cuBLAS's 128×4 tiled layout, and the product's
 * float32 accumulation is the tensor cores'. Construction fails on GPUs without the FP4 MMA (compute capability below
 * 10.0 or 11.x), which the verifier reports as "not run".
 */
public final class CublasLtFp4Gemm implements Fp4Gemm {
    private final CudaDevice device;
    private final CublasLtFp4 lt;
    private final CudaStream stream;
    private final Map<String, DeviceBuffer[]> weights = new HashMap<>();

    public CublasLtFp4Gemm(CudaDevice device) throws CudaUnavailableException {
        this.device = device;
        this.lt = CublasLtFp4.create(device);
        this.stream = device.defaultStream();
    }

    /** GGML NVFP4 rows to ModelOpt-order packed codes and linear E4M3 block scales. */
    static void unpackGgml(MemorySegment w, int rows, int cols, byte[] packed, byte[] scales) {
        long rowBytes = GgmlNvfp4Rows.rowBytes(cols);
        for (int r = 0; r < rows; r++) {
            for (int b = 0; b < cols / 16; b++) scales[r * (cols / 16) + b] = (byte) GgmlNvfp4Rows.scaleCode(w, r * rowBytes, b);
            for (int c = 0; c < cols; c += 2) {
                int lo = GgmlNvfp4Rows.code(w, r * rowBytes, c), hi = GgmlNvfp4Rows.code(w, r * rowBytes, c + 1);
                packed[r * (cols / 2) + c / 2] = (byte) (lo | hi << 4);
            }
        }
    }

    private DeviceBuffer upload(byte[] b) {
        DeviceBuffer d = device.allocate(Math.max(b.length, 256));
        device.copyToDevice(b, d.slice(0, b.length));
        return d;
    }

    @Override
    public synchronized void multiply(String weightName, MemorySegment weight, int rows, int cols, float[] x, int nRows, float gs, float alpha, float[] y) {
        device.makeCurrent();
        DeviceBuffer[] w = weights.get(weightName);
        if (w == null) {
            byte[] packed = new byte[rows * (cols / 2)], sc = new byte[rows * (cols / 16)];
            unpackGgml(weight, rows, cols, packed, sc);
            w = new DeviceBuffer[] {upload(packed), upload(CublasLtFp4.swizzle(sc, rows, cols / 16))};
            weights.put(weightName, w);
        }
        byte[] codes = new byte[nRows * cols], sc = new byte[nRows * (cols / 16)];
        for (int t = 0; t < nRows; t++) Nvfp4Activations.quantizeRow(x, t * cols, cols, gs, codes, t * cols, sc, t * (cols / 16));
        byte[] packed = new byte[nRows * (cols / 2)];
        for (int i = 0; i < packed.length; i++) packed[i] = (byte) ((codes[2 * i] & 0xF) | (codes[2 * i + 1] & 0xF) << 4);
        DeviceBuffer b = upload(packed), bs = upload(CublasLtFp4.swizzle(sc, nRows, cols / 16));
        DeviceBuffer d = device.allocate((long) nRows * rows * 4);
        try {
            lt.matmul(stream, w[0], w[1], rows, b, bs, nRows, cols, alpha, d);
            stream.synchronize();
            MemorySegment out = MemorySegment.ofArray(y).asSlice(0, (long) nRows * rows * 4);
            device.copyToHost(d, out);
        } finally {
            device.free(b);
            device.free(bs);
            device.free(d);
        }
    }

    @Override
    public String description() { return "cuBLASLt block-scaled FP4 (" + device.info().name() + ", " + device.info().arch() + ")"; }

    @Override
    public synchronized void close() {
        device.makeCurrent();
        for (DeviceBuffer[] w : weights.values()) for (DeviceBuffer b : w) device.free(b);
        weights.clear();
        lt.close();
    }
}
