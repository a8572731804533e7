package dev.requant.runtime.fp4;

import static org.assertj.core.api.Assertions.assertThat;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import dev.requant.cuda.CublasLtFp4;
import dev.requant.cuda.CudaDevice;
import dev.requant.cuda.CudaUnavailableException;
import dev.requant.runtime.cpu.CpuThreads;
import java.lang.foreign.MemorySegment;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.Test;

/**
 * The GPU W4A4 paths against the CPU emulation. Skipped without CUDA (this machine, CI); run on the GPU machine by
 * {@link Fp4GpuRunner}. The emulation kernel must return the CPU emulation's floats exactly; cuBLASLt's native FP4
 * GEMM (Blackwell only, skipped elsewhere with the reason) must agree to float32 rounding of its own summation order.
 */
class GpuFp4Test {
    private static CudaDevice device;
    private static String problem;

    static synchronized CudaDevice device() {
        if (device == null && problem == null) {
            try {
                device = CudaDevice.open();
            } catch (CudaUnavailableException e) {
                problem = e.getMessage();
            }
        }
        assumeTrue(device != null, problem);
        device.makeCurrent();
        return device;
    }

    @AfterAll
    static void close() {
        if (device != null) device.close();
    }

    static final int[][] SHAPES = {{1, 64, 64}, {7, 37, 320}, {33, 256, 1024}, {128, 300, 2048}};

    @Test
    void cudaEmulationEqualsCpuEmulationBitForBit() throws Exception {
        CudaDevice d = device();
        try (CpuThreads threads = new CpuThreads(Math.max(1, Runtime.getRuntime().availableProcessors())); CudaFp4Gemm gpu = new CudaFp4Gemm(d)) {
            CpuFp4Gemm cpu = new CpuFp4Gemm(threads);
            long compared = 0;
            for (int[] s : SHAPES) {
                int rows = s[0], out = s[1], cols = s[2];
                float[] x = Fp4TestData.activations(rows * 31L + cols, rows, cols);
                MemorySegment w = Fp4TestData.weight(out * 17L + cols, out, cols);
                float inputScale = 25f / 2688f, alpha = inputScale * 0.37f;
                float[] a = new float[rows * out], b = new float[rows * out];
                cpu.multiply("w" + cols, w, out, cols, x, rows, 1f / inputScale, alpha, a);
                gpu.multiply("w" + cols, w, out, cols, x, rows, 1f / inputScale, alpha, b);
                byte[] codes = new byte[rows * cols], sc = new byte[rows * cols / 16];
                for (int t = 0; t < rows; t++) Nvfp4Activations.quantizeRow(x, t * cols, cols, 1f / inputScale, codes, t * cols, sc, t * cols / 16);
                byte[][] g = gpu.lastActivations(rows, cols);
                assertThat(g[0]).as("activation codes %dx%d", rows, cols).isEqualTo(codes);
                assertThat(g[1]).as("activation block scales %dx%d", rows, cols).isEqualTo(sc);
                for (int i = 0; i < a.length; i++) {
                    assertThat(Float.floatToRawIntBits(b[i])).as("y[%d] of %dx%dx%d: cpu %s gpu %s", i, rows, out, cols, a[i], b[i])
                            .isEqualTo(Float.floatToRawIntBits(a[i]));
                }
                compared += a.length;
            }
            System.out.println("REPORT fp4-emulation  CUDA vs CPU W4A4 emulation, " + compared + " outputs   bit-identical (" + gpu.description() + ")");
        }
    }

    /**
     * The forward session's W4A4 inputs (nvfp4_amax, nvfp4_fake_quant_split): each value is the emulation's activation
     * {@code e2m1(code) · e4m3(sf) · s_in} for the codes and scales of {@link Nvfp4Activations#quantizeRow}, split into
     * bf16 halves, bit for bit; with a static scale and with the dynamic {@code amax / 2688} of W4a4MatMul.
     */
    @Test
    void sessionInputsAreTheEmulationsActivationsBitForBit() throws Exception {
        CudaDevice d = device();
        try (dev.requant.cuda.Nvfp4Kernels k = dev.requant.cuda.Nvfp4Kernels.load(d)) {
            long compared = 0;
            for (int[] s : SHAPES) {
                int rows = s[0], cols = s[2];
                float[] x = Fp4TestData.activations(rows * 13L + cols, rows, cols);
                x[0] = 0f; // a zero and a block of zeros: code 0, scale 0
                for (int j = 16; j < 32 && j < x.length; j++) x[j] = 0f;
                dev.requant.cuda.DeviceBuffer dx = d.allocate(4L * x.length), hi = d.allocate(2L * x.length), lo = d.allocate(2L * x.length),
                        amax = d.allocate(4);
                try {
                    d.copyToDevice(x, dx);
                    for (boolean dynamic : new boolean[] {false, true}) {
                        float m = 0f;
                        for (float v : x) m = Math.max(m, Math.abs(v));
                        float sIn = dynamic ? (m > 0f ? m / 2688f : 1f) : 25f / 2688f;
                        if (dynamic) {
                            d.fill32(amax, 0, d.defaultStream());
                            k.amax(d.defaultStream(), dx, x.length, amax);
                        }
                        k.fakeQuantSplit(d.defaultStream(), dx, rows, cols, dynamic ? -1f : sIn, amax, hi, lo);
                        d.synchronize();
                        if (dynamic) assertThat(Float.intBitsToFloat(d.ints(amax, 1)[0])).as("amax").isEqualTo(m);
                        short[] gh = d.shorts(hi, x.length), gl = d.shorts(lo, x.length);
                        byte[] codes = new byte[x.length], sc = new byte[x.length / 16];
                        float gs = 1f / sIn;
                        for (int t = 0; t < rows; t++) Nvfp4Activations.quantizeRow(x, t * cols, cols, gs, codes, t * cols, sc, t * cols / 16);
                        for (int i = 0; i < x.length; i++) {
                            float v = Nvfp4Activations.e2m1(codes[i]) * dev.requant.formats.ggml.Float8.e4m3ToFloat(sc[i / 16]) * sIn;
                            short h = dev.requant.formats.ggml.BFloat16.fromFloat(v);
                            short l = dev.requant.formats.ggml.BFloat16.fromFloat(v - dev.requant.formats.ggml.BFloat16.toFloat(h));
                            assertThat(gh[i]).as("hi[%d] of %dx%d (dynamic %s)", i, rows, cols, dynamic).isEqualTo(h);
                            assertThat(gl[i]).as("lo[%d] of %dx%d (dynamic %s)", i, rows, cols, dynamic).isEqualTo(l);
                        }
                        compared += x.length;
                    }
                } finally {
                    for (dev.requant.cuda.DeviceBuffer b : new dev.requant.cuda.DeviceBuffer[] {dx, hi, lo, amax}) d.free(b);
                }
            }
            System.out.println("REPORT fp4-session-inputs  " + compared + " activations, static and dynamic scale   bit-identical");
        }
    }

    @Test
    void cublasLtBlockScaledFp4AgreesWithTheEmulationOnBlackwell() throws Exception {
        CudaDevice d = device();
        assumeTrue(CublasLtFp4.supports(d.info()), "cuBLASLt block-scaled FP4 needs compute capability 10.x or 12.x; this GPU is "
                + d.info().computeMajor() + "." + d.info().computeMinor() + " (" + d.info().name() + "): native W4A4 not run");
        try (CpuThreads threads = new CpuThreads(2); CublasLtFp4Gemm lt = new CublasLtFp4Gemm(d)) {
            CpuFp4Gemm cpu = new CpuFp4Gemm(threads);
            for (int[] s : new int[][] {{128, 256, 1024}, {16, 128, 256}}) {
                int rows = s[0], out = s[1], cols = s[2];
                float[] x = Fp4TestData.activations(rows + 5L * cols, rows, cols);
                MemorySegment w = Fp4TestData.weight(out + 3L * cols, out, cols);
                float inputScale = 25f / 2688f, alpha = inputScale * 0.37f;
                float[] a = new float[rows * out], b = new float[rows * out];
                cpu.multiply("w", w, out, cols, x, rows, 1f / inputScale, alpha, a);
                lt.multiply("w" + cols, w, out, cols, x, rows, 1f / inputScale, alpha, b);
                double maxRel = 0;
                for (int i = 0; i < a.length; i++) maxRel = Math.max(maxRel, Math.abs(a[i] - b[i]) / Math.max(1e-3, Math.abs(a[i])));
                System.out.println("REPORT fp4-cublaslt   cuBLASLt FP4 vs CPU emulation " + rows + "x" + out + "x" + cols + "  max rel " + maxRel);
                assertThat(maxRel).isLessThan(1e-3);
            }
        }
    }
}
