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
