package dev.requant.cuda;

import java.io.IOException;
import java.io.InputStream;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;

/**
 * The kernels of {@code nvfp4.cu} for the FP4 verifier: NVFP4 activation quantization and the W4A4 product emulated
 * in float32 with the same operations, in the same order, as the Java references in the runtime module
 * (Nvfp4Activations, W4a4Reference), so the GPU and the CPU emulation return identical floats. Compiled and cached
 * like {@link CudaKernels}; launches are serialised.
 */
public final class Nvfp4Kernels implements AutoCloseable {
    public static final String SOURCE = "nvfp4.cu";
    private static final int BLOCK = 128;

    private final CudaModule module;
    private final KernelArgs args = new KernelArgs();
    private final CudaKernel quantize, emulated, amax, fakeQuant;

    private Nvfp4Kernels(CudaModule module) {
        this.module = module;
        quantize = module.kernel("nvfp4_quantize_act");
        emulated = module.kernel("nvfp4_w4a4_emulated");
        amax = module.kernel("nvfp4_amax");
        fakeQuant = module.kernel("nvfp4_fake_quant_split");
    }

    public static Nvfp4Kernels load(CudaDevice device) throws CudaUnavailableException {
        return load(device, new KernelCache(KernelCache.defaultDirectory(System.getenv())));
    }

    public static Nvfp4Kernels load(CudaDevice device, KernelCache cache) throws CudaUnavailableException {
        byte[] cubin = cache.cubin(SOURCE, source(), device.info().arch(), device.nvrtc());
        device.makeCurrent();
        return new Nvfp4Kernels(device.loadModule(cubin));
    }

    public static String source() {
        try (InputStream in = Nvfp4Kernels.class.getResourceAsStream(SOURCE)) {
            if (in == null) throw new IllegalStateException(SOURCE + " is missing from the classpath");
            return new String(in.readAllBytes(), StandardCharsets.UTF_8);
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    /**
     * {@code rows × cols} float activations (row-major, {@code cols} a multiple of 16) to one E2M1 code per byte and one
     * E4M3 block scale byte per 16 values, with global multiplier {@code gs = 1/input_scale}.
     */
    public synchronized void quantizeActivations(CudaStream s, DeviceBuffer x, int rows, int cols, float gs, DeviceBuffer codes, DeviceBuffer scales) {
        x.require((long) rows * cols, 4, "activations");
        codes.require((long) rows * cols, 1, "codes");
        scales.require((long) rows * (cols / 16), 1, "block scales");
        long nb = (long) rows * (cols / 16);
        args.reset().ptr(x).i32(rows).i32(cols).f32(gs).ptr(codes).ptr(scales);
        quantize.launch((int) ((nb + BLOCK - 1) / BLOCK), 1, 1, BLOCK, 0, s, args);
    }

    /**
     * {@code y[t * ldy + o] = alpha · Σ_b dot16 · (sa · sw)} for {@code nRows} activation rows and {@code outRows} GGML
     * NVFP4 weight rows of {@code cols} (a multiple of 64).
     */
    public synchronized void w4a4Emulated(CudaStream s, DeviceBuffer codes, DeviceBuffer scales, int nRows, DeviceBuffer weight, int outRows,
                                          int cols, float alpha, DeviceBuffer y, int ldy) {
        weight.require((long) outRows * (cols / 64) * 36, 1, "NVFP4 weight");
        y.require((long) nRows * ldy, 4, "output");
        args.reset().ptr(codes).ptr(scales).i32(nRows).ptr(weight).i32(outRows).i32(cols).f32(alpha).ptr(y).i32(ldy);
        emulated.launch((outRows + BLOCK - 1) / BLOCK, nRows, 1, BLOCK, 0, s, args);
    }

    /** The float bits of {@code max |x|} over {@code n} floats, max-ed into the 4 bytes of {@code out} (zero them first). */
    public synchronized void amax(CudaStream s, DeviceBuffer x, long n, DeviceBuffer out) {
        x.require(n, 4, "activations");
        out.require(1, 4, "amax");
        int blocks = (int) Math.max(1, Math.min(1024, (n + 4L * 256 - 1) / (4L * 256)));
        args.reset().ptr(x).i64(n).ptr(out);
        amax.launch(blocks, 1, 1, 256, 0, s, args);
    }

    /**
     * {@code rows × cols} float activations quantized to NVFP4 blocks and written back as the bf16 halves {@code hi}
     * (and {@code lo}, may be null) of their values {@code e2m1 · e4m3 · s_in}: the input a W4A4 product sees.
     * {@code inputScale} is the checkpoint's static {@code input_scale}; 0 or less takes the dynamic scale from the
     * bits {@link #amax} left in {@code amaxBits}.
     */
    public synchronized void fakeQuantSplit(CudaStream s, DeviceBuffer x, int rows, int cols, float inputScale, DeviceBuffer amaxBits,
                                            DeviceBuffer hi, DeviceBuffer lo) {
        if (cols % 16 != 0) throw new IllegalArgumentException("NVFP4 activation rows of " + cols + " values: not whole 16-value blocks");
        x.require((long) rows * cols, 4, "activations");
        hi.require((long) rows * cols, 2, "bf16 activations");
        if (lo != null) lo.require((long) rows * cols, 2, "bf16 low halves");
        long nb = (long) rows * (cols / 16);
        args.reset().ptr(x).i32(rows).i32(cols).f32(inputScale).ptr(amaxBits).ptr(hi).ptr(lo);
        fakeQuant.launch((int) ((nb + BLOCK - 1) / BLOCK), 1, 1, BLOCK, 0, s, args);
    }

    @Override
    public void close() { module.close(); }
}
