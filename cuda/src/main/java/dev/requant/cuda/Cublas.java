package dev.requant.cuda;

import static java.lang.foreign.ValueLayout.ADDRESS;
import static java.lang.foreign.ValueLayout.JAVA_FLOAT;
import static java.lang.foreign.ValueLayout.JAVA_INT;
import static java.lang.foreign.ValueLayout.JAVA_LONG;

import java.lang.foreign.Arena;
import java.lang.foreign.FunctionDescriptor;
import java.lang.foreign.MemorySegment;
import java.lang.invoke.MethodHandle;

/**
 * cuBLAS (libcublas.so.13 or .12, which needs its libcublasLt beside it) through FFM: a handle bound to one stream,
 * and cublasGemmEx / cublasGemmStridedBatchedEx with float32 accumulation. cuBLAS is column-major; {@link CudaGemm}
 * turns row-major products into the right calls.
 */
public final class Cublas implements AutoCloseable {
    public static final int CUDA_R_32F = 0;
    public static final int CUDA_R_16F = 2;
    public static final int CUDA_R_16BF = 14;
    static final int CUBLAS_COMPUTE_32F = 68;
    static final int CUBLAS_GEMM_DEFAULT = -1;
    static final int CUBLAS_OP_N = 0;
    static final int CUBLAS_OP_T = 1;
    static final int CUBLAS_DEFAULT_MATH = 0;

    private final String library;
    private final MethodHandle destroy, setStream, gemmEx, gemmStridedBatchedEx, gemmBatchedEx;
    private final MemorySegment handle;
    private final int version;
    private final Arena arena = Arena.ofShared();
    private final MemorySegment one, zero, alpha;

    private Cublas(NativeLibrary lib) throws CudaUnavailableException {
        library = lib.name();
        MethodHandle create = lib.function(FunctionDescriptor.of(JAVA_INT, ADDRESS), "cublasCreate_v2");
        MethodHandle getVersion = lib.function(FunctionDescriptor.of(JAVA_INT, ADDRESS, ADDRESS), "cublasGetVersion_v2");
        MethodHandle setMathMode = lib.function(FunctionDescriptor.of(JAVA_INT, ADDRESS, JAVA_INT), "cublasSetMathMode");
        destroy = lib.function(FunctionDescriptor.of(JAVA_INT, ADDRESS), "cublasDestroy_v2");
        setStream = lib.function(FunctionDescriptor.of(JAVA_INT, ADDRESS, ADDRESS), "cublasSetStream_v2");
        gemmEx = lib.function(FunctionDescriptor.of(JAVA_INT, ADDRESS, JAVA_INT, JAVA_INT, JAVA_INT, JAVA_INT, JAVA_INT,
                ADDRESS, JAVA_LONG, JAVA_INT, JAVA_INT, JAVA_LONG, JAVA_INT, JAVA_INT, ADDRESS, JAVA_LONG, JAVA_INT, JAVA_INT,
                JAVA_INT, JAVA_INT), "cublasGemmEx");
        gemmStridedBatchedEx = lib.function(FunctionDescriptor.of(JAVA_INT, ADDRESS, JAVA_INT, JAVA_INT, JAVA_INT, JAVA_INT,
                JAVA_INT, ADDRESS, JAVA_LONG, JAVA_INT, JAVA_INT, JAVA_LONG, JAVA_LONG, JAVA_INT, JAVA_INT, JAVA_LONG,
                ADDRESS, JAVA_LONG, JAVA_INT, JAVA_INT, JAVA_LONG, JAVA_INT, JAVA_INT, JAVA_INT), "cublasGemmStridedBatchedEx");
        gemmBatchedEx = lib.function(FunctionDescriptor.of(JAVA_INT, ADDRESS, JAVA_INT, JAVA_INT, JAVA_INT, JAVA_INT, JAVA_INT,
                ADDRESS, JAVA_LONG, JAVA_INT, JAVA_INT, JAVA_LONG, JAVA_INT, JAVA_INT, ADDRESS, JAVA_LONG, JAVA_INT, JAVA_INT,
                JAVA_INT, JAVA_INT, JAVA_INT), "cublasGemmBatchedEx");
        try (Arena a = Arena.ofConfined()) {
            MemorySegment h = a.allocate(ADDRESS);
            check((int) create.invokeExact(h), "cublasCreate_v2");
            handle = h.get(ADDRESS, 0);
            MemorySegment v = a.allocate(JAVA_INT);
            check((int) getVersion.invokeExact(handle, v), "cublasGetVersion_v2");
            version = v.get(JAVA_INT, 0);
            // Default math: no TF32 for float32 products; bf16 inputs use the tensor cores anyway.
            check((int) setMathMode.invokeExact(handle, CUBLAS_DEFAULT_MATH), "cublasSetMathMode");
        } catch (CudaException e) {
            throw new CudaUnavailableException(library + ": " + e.getMessage(), e);
        } catch (Throwable t) {
            throw new CudaUnavailableException(library + ": " + t, t);
        }
        one = arena.allocateFrom(JAVA_FLOAT, 1f);
        zero = arena.allocateFrom(JAVA_FLOAT, 0f);
        alpha = arena.allocate(JAVA_FLOAT);
    }

    /** Loads cuBLAS (and its cuBLASLt first, from the same search) and creates a handle in the current context. */
    static Cublas create(CudaLibraries libs) throws CudaUnavailableException {
        var lt = libs.find(CudaLibraries.CUBLAS_LT);
        if (lt.isPresent()) NativeLibrary.byPath(lt.get()); // so libcublas finds its DT_NEEDED by soname
        var path = libs.find(CudaLibraries.CUBLAS);
        if (path.isPresent()) return new Cublas(NativeLibrary.byPath(path.get()));
        for (String name : CudaLibraries.CUBLAS) {
            var lib = NativeLibrary.byName(name);
            if (lib.isPresent()) return new Cublas(lib.get());
        }
        throw new CudaUnavailableException(libs.describeMissing(CudaLibraries.CUBLAS));
    }

    public String library() { return library; }

    /** cublasGetVersion, e.g. 130100 for cuBLAS 13.1. */
    public int version() { return version; }

    private static void check(int status, String call) {
        if (status != 0) throw new CudaException(call, status, "CUBLAS_STATUS " + status);
    }

    void stream(CudaStream s) {
        try {
            check((int) setStream.invokeExact(handle, s.handle()), "cublasSetStream_v2");
        } catch (RuntimeException e) {
            throw e;
        } catch (Throwable t) {
            throw new IllegalStateException(t);
        }
    }

    /** Column-major C[m×n] = op(A)·op(B), alpha 1, beta {@code accumulate ? 1 : 0}, float32 accumulation. */
    void gemm(boolean transA, boolean transB, int m, int n, int k, long a, int aType, int lda, long b, int bType, int ldb,
              boolean accumulate, long c, int cType, int ldc) {
        // A local, not a conditional expression: invokeExact takes the static type, and `x ? one : zero` is Object here.
        MemorySegment beta = accumulate ? one : zero;
        try {
            int rc = (int) gemmEx.invokeExact(handle, transA ? CUBLAS_OP_T : CUBLAS_OP_N, transB ? CUBLAS_OP_T : CUBLAS_OP_N,
                    m, n, k, one, a, aType, lda, b, bType, ldb, beta, c, cType, ldc,
                    CUBLAS_COMPUTE_32F, CUBLAS_GEMM_DEFAULT);
            check(rc, "cublasGemmEx(m=" + m + ", n=" + n + ", k=" + k + ")");
        } catch (RuntimeException e) {
            throw e;
        } catch (Throwable t) {
            throw new IllegalStateException(t);
        }
    }

    /** {@link #gemm} over {@code batch} matrices at fixed element strides. */
    void gemmBatched(boolean transA, boolean transB, int m, int n, int k, long a, int aType, int lda, long strideA,
                     long b, int bType, int ldb, long strideB, long c, int cType, int ldc, long strideC, int batch) {
        gemmBatched(transA, transB, m, n, k, 1f, a, aType, lda, strideA, b, bType, ldb, strideB, c, cType, ldc, strideC, batch);
    }

    /**
     * {@link #gemm} over {@code batch} matrices at fixed element strides, {@code C = alpha·op(A)·op(B)}. alpha is read
     * from host memory during the call (CUBLAS_POINTER_MODE_HOST), so one reused cell suffices.
     */
    void gemmBatched(boolean transA, boolean transB, int m, int n, int k, float alphaValue, long a, int aType, int lda,
                     long strideA, long b, int bType, int ldb, long strideB, long c, int cType, int ldc, long strideC, int batch) {
        alpha.set(JAVA_FLOAT, 0, alphaValue);
        try {
            int rc = (int) gemmStridedBatchedEx.invokeExact(handle, transA ? CUBLAS_OP_T : CUBLAS_OP_N,
                    transB ? CUBLAS_OP_T : CUBLAS_OP_N, m, n, k, alpha, a, aType, lda, strideA, b, bType, ldb, strideB,
                    zero, c, cType, ldc, strideC, batch, CUBLAS_COMPUTE_32F, CUBLAS_GEMM_DEFAULT);
            check(rc, "cublasGemmStridedBatchedEx(m=" + m + ", n=" + n + ", k=" + k + ", batch=" + batch + ")");
        } catch (RuntimeException e) {
            throw e;
        } catch (Throwable t) {
            throw new IllegalStateException(t);
        }
    }

    @Override
    public void close() {
        try {
            int ignored = (int) destroy.invokeExact(handle);
        } catch (Throwable t) {
            // closing; nothing to report
        }
        arena.close();
    }

    /**
     * {@link #gemm} over {@code batch} matrices whose addresses are in device arrays of pointers ({@code aArray},
     * {@code bArray}, {@code cArray}: device addresses of {@code batch} pointers each), one shape for all.
     */
    void gemmPointers(boolean transA, boolean transB, int m, int n, int k, long aArray, int aType, int lda, long bArray,
                      int bType, int ldb, boolean accumulate, long cArray, int cType, int ldc, int batch) {
        MemorySegment beta = accumulate ? one : zero;
        try {
            int rc = (int) gemmBatchedEx.invokeExact(handle, transA ? CUBLAS_OP_T : CUBLAS_OP_N, transB ? CUBLAS_OP_T : CUBLAS_OP_N,
                    m, n, k, one, aArray, aType, lda, bArray, bType, ldb, beta, cArray, cType, ldc, batch,
                    CUBLAS_COMPUTE_32F, CUBLAS_GEMM_DEFAULT);
            check(rc, "cublasGemmBatchedEx(m=" + m + ", n=" + n + ", k=" + k + ", batch=" + batch + ")");
        } catch (RuntimeException e) {
            throw e;
        } catch (Throwable t) {
            throw new IllegalStateException(t);
        }
    }
}
