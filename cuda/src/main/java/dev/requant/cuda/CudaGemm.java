package dev.requant.cuda;

/**
 * Row-major matrix products through cuBLAS: {@code y[m×n] = x[m×k] · wᵀ}, where {@code w} is a weight as GGUF stores
 * it ({@code ne = [k, n]}: n rows of k). In cuBLAS's column-major terms that is {@code yᵀ = w · xᵀ}, one
 * cublasGemmEx(T, N) call with float32 accumulation.
 */
public final class CudaGemm implements AutoCloseable {
    private final Cublas cublas;

    /** A cuBLAS handle whose work goes to {@code stream}. */
    public CudaGemm(CudaDevice device, CudaStream stream) throws CudaUnavailableException {
        this.cublas = device.createCublas();
        cublas.stream(stream);
    }

    public Cublas cublas() { return cublas; }

    /** bf16 · bf16 → float32. */
    public void bf16(DeviceBuffer x, DeviceBuffer w, DeviceBuffer y, int m, int n, int k) {
        bf16(x, w, y, m, n, k, false);
    }

    /** bf16 · bf16 → float32, added to {@code y} when {@code accumulate} (the second GEMM of a hi/lo input split). */
    public void bf16(DeviceBuffer x, DeviceBuffer w, DeviceBuffer y, int m, int n, int k, boolean accumulate) {
        check(x, w, y, m, n, k, 2, 4);
        cublas.gemm(true, false, n, m, k, w.address(), Cublas.CUDA_R_16BF, k, x.address(), Cublas.CUDA_R_16BF, k,
                accumulate, y.address(), Cublas.CUDA_R_32F, n);
    }

    /**
     * As {@link #bf16(DeviceBuffer, DeviceBuffer, DeviceBuffer, int, int, int, boolean)} into the first {@code n} columns
     * of rows {@code ldy} floats apart: a band of a fused weight's output (its rows of Q/K/V or gate/up) on its own.
     */
    public void bf16(DeviceBuffer x, DeviceBuffer w, DeviceBuffer y, int m, int n, int k, boolean accumulate, int ldy) {
        if (ldy < n) throw new IllegalArgumentException("output rows of " + ldy + " floats hold no " + n + " columns");
        x.require((long) m * k, 2, "x");
        w.require((long) n * k, 2, "w");
        y.require((long) (m - 1) * ldy + n, 4, "y");
        cublas.gemm(true, false, n, m, k, w.address(), Cublas.CUDA_R_16BF, k, x.address(), Cublas.CUDA_R_16BF, k,
                accumulate, y.address(), Cublas.CUDA_R_32F, ldy);
    }

    /**
     * {@code y_i[m×n] (+)= x_i[m×k] · w_i[n×k]ᵀ} for {@code i < batch}, bf16 in, float32 out, the matrices anywhere:
     * {@code table} holds three arrays of {@code batch} device addresses each (weights at byte {@code wAt}, inputs at
     * {@code xAt}, outputs at {@code yAt}). One call for the experts of a MoE layer that received the same padded rows.
     */
    public void bf16Pointers(DeviceBuffer table, long wAt, long xAt, long yAt, int m, int n, int k, int batch, boolean accumulate) {
        for (long at : new long[] {wAt, xAt, yAt}) table.slice(at, 8L * batch);
        cublas.gemmPointers(true, false, n, m, k, table.address() + wAt, Cublas.CUDA_R_16BF, k, table.address() + xAt,
                Cublas.CUDA_R_16BF, k, accumulate, table.address() + yAt, Cublas.CUDA_R_32F, n, batch);
    }

    /** bf16 · bf16 → bf16 (float32 accumulation, one rounding at the end). */
    public void bf16ToBf16(DeviceBuffer x, DeviceBuffer w, DeviceBuffer y, int m, int n, int k) {
        check(x, w, y, m, n, k, 2, 2);
        cublas.gemm(true, false, n, m, k, w.address(), Cublas.CUDA_R_16BF, k, x.address(), Cublas.CUDA_R_16BF, k,
                false, y.address(), Cublas.CUDA_R_16BF, n);
    }

    /** float32 throughout (no TF32). */
    public void f32(DeviceBuffer x, DeviceBuffer w, DeviceBuffer y, int m, int n, int k) {
        check(x, w, y, m, n, k, 4, 4);
        cublas.gemm(true, false, n, m, k, w.address(), Cublas.CUDA_R_32F, k, x.address(), Cublas.CUDA_R_32F, k,
                false, y.address(), Cublas.CUDA_R_32F, n);
    }

    /**
     * Row-major batched {@code C_i[m×n] = alpha · A_i[m×k] · B_i[n×k]ᵀ} for {@code i < batch}, f16 inputs, float32
     * output; strides in elements between consecutive matrices (attention scores: Q · Kᵀ per head group).
     */
    public void f16BatchedABt(DeviceBuffer a, long strideA, DeviceBuffer b, long strideB, DeviceBuffer c, long strideC,
                              int m, int n, int k, float alpha, int batch) {
        a.require(strideA * (batch - 1) + (long) m * k, 2, "A");
        b.require(strideB * (batch - 1) + (long) n * k, 2, "B");
        c.require(strideC * (batch - 1) + (long) m * n, 4, "C");
        cublas.gemmBatched(true, false, n, m, k, alpha, b.address(), Cublas.CUDA_R_16F, k, strideB,
                a.address(), Cublas.CUDA_R_16F, k, strideA, c.address(), Cublas.CUDA_R_32F, n, strideC, batch);
    }

    /**
     * Row-major batched {@code C_i[m×n] = A_i[m×k] · B_i[k×n]}, f16 inputs, float32 output (attention: P · V).
     */
    public void f16BatchedAB(DeviceBuffer a, long strideA, DeviceBuffer b, long strideB, DeviceBuffer c, long strideC,
                             int m, int n, int k, int batch) {
        a.require(strideA * (batch - 1) + (long) m * k, 2, "A");
        b.require(strideB * (batch - 1) + (long) k * n, 2, "B");
        c.require(strideC * (batch - 1) + (long) m * n, 4, "C");
        cublas.gemmBatched(false, false, n, m, k, 1f, b.address(), Cublas.CUDA_R_16F, n, strideB,
                a.address(), Cublas.CUDA_R_16F, k, strideA, c.address(), Cublas.CUDA_R_32F, n, strideC, batch);
    }

    private static void check(DeviceBuffer x, DeviceBuffer w, DeviceBuffer y, int m, int n, int k, int inBytes, int outBytes) {
        x.require((long) m * k, inBytes, "x");
        w.require((long) n * k, inBytes, "w");
        y.require((long) m * n, outBytes, "y");
    }

    @Override
    public void close() { cublas.close(); }
}
