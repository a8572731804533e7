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
 * cuBLASLt's block-scaled FP4 GEMM (NVFP4 × NVFP4, Blackwell only; qat-nvfp4-facts.md §3.1, NVIDIA's
 * LtNvfp4Matmul sample): A and B are {@code CUDA_R_4F_E2M1} with {@code CUBLASLT_MATMUL_MATRIX_SCALE_VEC16_UE4M3}
 * scale modes (one E4M3 byte per 16 values along K, in the 128×4 tiled layout of {@link #swizzledOffset}), TN
 * (A transposed, B not), float32 compute, alpha on the host. Row-major: {@code D[n×m] = alpha · B[n×k] · A[m×k]ᵀ} with
 * A the weights and B the activations, each row {@code k} values packed two per byte, element 2i in the low nibble.
 *
 * <p>The hardware block-scaled MMA exists from compute capability 10.0 (tcgen05 kind::mxf4nvf4) and 12.0 (mma.sync
 * kind::mxf4nvf4); {@link #create} refuses other GPUs with a {@link CudaUnavailableException} naming the capability, so
 * callers report the path as not run instead of failing.
 */
public final class CublasLtFp4 implements AutoCloseable {
    static final int CUDA_R_32F = 0;
    static final int CUDA_R_16BF = 14;
    static final int CUDA_R_4F_E2M1 = 33;
    static final int CUBLAS_COMPUTE_32F = 68;
    static final int CUBLAS_OP_N = 0, CUBLAS_OP_T = 1;
    static final int DESC_TRANSA = 3, DESC_TRANSB = 4, DESC_A_SCALE_POINTER = 17, DESC_B_SCALE_POINTER = 18,
            DESC_A_SCALE_MODE = 31, DESC_B_SCALE_MODE = 32;
    static final int SCALE_VEC16_UE4M3 = 1;
    static final int PREF_MAX_WORKSPACE_BYTES = 1;
    static final long WORKSPACE = 32L << 20;
    /** sizeof(cublasLtMatmulHeuristicResult_t): algo (8 × uint64), workspaceSize, state, wavesCount, reserved[4]. */
    static final long HEURISTIC_BYTES = 64 + 8 + 4 + 4 + 16;

    private final CudaDevice device;
    private final String library;
    private final MethodHandle destroy, descCreate, descDestroy, descSet, layoutCreate, layoutDestroy, prefCreate, prefDestroy,
            prefSet, heuristic, matmul;
    private final MemorySegment handle;
    private final DeviceBuffer workspace;
    private final Arena arena = Arena.ofShared();

    /** Whether a GPU of this compute capability has the block-scaled FP4 MMA cuBLASLt needs. */
    public static boolean supports(CudaDevice.Info info) {
        return info.computeMajor() == 10 || info.computeMajor() == 12;
    }

    private CublasLtFp4(CudaDevice device, NativeLibrary lib) throws CudaUnavailableException {
        this.device = device;
        library = lib.name();
        MethodHandle create = lib.function(FunctionDescriptor.of(JAVA_INT, ADDRESS), "cublasLtCreate");
        destroy = lib.function(FunctionDescriptor.of(JAVA_INT, ADDRESS), "cublasLtDestroy");
        descCreate = lib.function(FunctionDescriptor.of(JAVA_INT, ADDRESS, JAVA_INT, JAVA_INT), "cublasLtMatmulDescCreate");
        descDestroy = lib.function(FunctionDescriptor.of(JAVA_INT, ADDRESS), "cublasLtMatmulDescDestroy");
        descSet = lib.function(FunctionDescriptor.of(JAVA_INT, ADDRESS, JAVA_INT, ADDRESS, JAVA_LONG), "cublasLtMatmulDescSetAttribute");
        layoutCreate = lib.function(FunctionDescriptor.of(JAVA_INT, ADDRESS, JAVA_INT, JAVA_LONG, JAVA_LONG, JAVA_LONG), "cublasLtMatrixLayoutCreate");
        layoutDestroy = lib.function(FunctionDescriptor.of(JAVA_INT, ADDRESS), "cublasLtMatrixLayoutDestroy");
        prefCreate = lib.function(FunctionDescriptor.of(JAVA_INT, ADDRESS), "cublasLtMatmulPreferenceCreate");
        prefDestroy = lib.function(FunctionDescriptor.of(JAVA_INT, ADDRESS), "cublasLtMatmulPreferenceDestroy");
        prefSet = lib.function(FunctionDescriptor.of(JAVA_INT, ADDRESS, JAVA_INT, ADDRESS, JAVA_LONG), "cublasLtMatmulPreferenceSetAttribute");
        heuristic = lib.function(FunctionDescriptor.of(JAVA_INT, ADDRESS, ADDRESS, ADDRESS, ADDRESS, ADDRESS, ADDRESS, ADDRESS, JAVA_INT,
                ADDRESS, ADDRESS), "cublasLtMatmulAlgoGetHeuristic");
        matmul = lib.function(FunctionDescriptor.of(JAVA_INT, ADDRESS, ADDRESS, ADDRESS, JAVA_LONG, ADDRESS, JAVA_LONG, ADDRESS,
                ADDRESS, JAVA_LONG, ADDRESS, JAVA_LONG, ADDRESS, ADDRESS, ADDRESS, JAVA_LONG, ADDRESS), "cublasLtMatmul");
        try {
            MemorySegment h = arena.allocate(ADDRESS);
            check((int) create.invokeExact(h), "cublasLtCreate");
            handle = h.get(ADDRESS, 0);
        } catch (CudaException e) {
            throw new CudaUnavailableException(library + ": " + e.getMessage(), e);
        } catch (Throwable t) {
            throw new CudaUnavailableException(library + ": " + t, t);
        }
        workspace = device.allocate(WORKSPACE);
    }

    /** cuBLASLt on {@code device}, or why not (capability below Blackwell, library missing). */
    public static CublasLtFp4 create(CudaDevice device) throws CudaUnavailableException {
        CudaDevice.Info info = device.info();
        if (!supports(info)) {
            throw new CudaUnavailableException("cuBLASLt block-scaled FP4 needs compute capability 10.x or 12.x (Blackwell); "
                    + info.name() + " is " + info.computeMajor() + "." + info.computeMinor());
        }
        device.makeCurrent();
        var path = device.libraries().find(CudaLibraries.CUBLAS_LT);
        if (path.isPresent()) return new CublasLtFp4(device, NativeLibrary.byPath(path.get()));
        for (String name : CudaLibraries.CUBLAS_LT) {
            var lib = NativeLibrary.byName(name);
            if (lib.isPresent()) return new CublasLtFp4(device, lib.get());
        }
        throw new CudaUnavailableException(device.libraries().describeMissing(CudaLibraries.CUBLAS_LT));
    }

    public String library() { return library; }

    /** Bytes of a swizzled scale matrix for {@code rows × cols} scales: rows padded to 128, columns to 4. */
    public static long swizzledBytes(int rows, int cols) {
        long rp = (rows + 127L) / 128 * 128, cp = (cols + 3L) / 4 * 4;
        return rp * cp;
    }

    /**
     * Where scale {@code (r, c)} of a {@code rows × cols} scale matrix goes in cuBLAS's 1-D block-scaling layout (128×4
     * tiles, the reshape {@code (R/128, 4, 32, C/4, 4).permute(0, 3, 2, 1, 4)} of vLLM's swizzle_blockscale):
     * {@code ((r/128)·(Cpad/4) + c/4)·512 + (r%32)·16 + ((r/32)%4)·4 + c%4}.
     */
    public static long swizzledOffset(int r, int c, int cols) {
        long cp = (cols + 3L) / 4 * 4;
        return ((long) (r / 128) * (cp / 4) + c / 4) * 512 + (r % 32) * 16L + ((r / 32) % 4) * 4L + (c % 4);
    }

    /** Linear row-major scale bytes to the swizzled layout (padding left zero). */
    public static byte[] swizzle(byte[] linear, int rows, int cols) {
        byte[] out = new byte[Math.toIntExact(swizzledBytes(rows, cols))];
        for (int r = 0; r < rows; r++) {
            for (int c = 0; c < cols; c++) out[(int) swizzledOffset(r, c, cols)] = linear[r * cols + c];
        }
        return out;
    }

    /**
     * {@code d[t·m + o] = alpha · Σ_k B[t][k]·A[o][k]} (row-major float32 D of {@code n × m}).
     *
     * @param a weights, {@code m} rows of {@code k} FP4 values ({@code k/2} bytes each)
     * @param aScales swizzled E4M3 scales of A ({@link #swizzledBytes}(m, k/16))
     * @param b activations, {@code n} rows of {@code k} FP4 values
     * @param bScales swizzled E4M3 scales of B
     */
    public synchronized void matmul(CudaStream s, DeviceBuffer a, DeviceBuffer aScales, int m, DeviceBuffer b, DeviceBuffer bScales, int n,
                                    int k, float alpha, DeviceBuffer d) {
        try (Arena t = Arena.ofConfined()) {
            MemorySegment descP = t.allocate(ADDRESS), aL = t.allocate(ADDRESS), bL = t.allocate(ADDRESS), dL = t.allocate(ADDRESS),
                    prefP = t.allocate(ADDRESS);
            check((int) descCreate.invokeExact(descP, CUBLAS_COMPUTE_32F, CUDA_R_32F), "cublasLtMatmulDescCreate");
            MemorySegment desc = descP.get(ADDRESS, 0);
            try {
                setInt(t, desc, DESC_TRANSA, CUBLAS_OP_T);
                setInt(t, desc, DESC_TRANSB, CUBLAS_OP_N);
                setInt(t, desc, DESC_A_SCALE_MODE, SCALE_VEC16_UE4M3);
                setInt(t, desc, DESC_B_SCALE_MODE, SCALE_VEC16_UE4M3);
                setLong(t, desc, DESC_A_SCALE_POINTER, aScales.address());
                setLong(t, desc, DESC_B_SCALE_POINTER, bScales.address());
                // column-major: A is k × m (op T), B is k × n, D is m × n (= row-major n × m)
                check((int) layoutCreate.invokeExact(aL, CUDA_R_4F_E2M1, (long) k, (long) m, (long) k), "cublasLtMatrixLayoutCreate(A)");
                check((int) layoutCreate.invokeExact(bL, CUDA_R_4F_E2M1, (long) k, (long) n, (long) k), "cublasLtMatrixLayoutCreate(B)");
                check((int) layoutCreate.invokeExact(dL, CUDA_R_32F, (long) m, (long) n, (long) m), "cublasLtMatrixLayoutCreate(D)");
                check((int) prefCreate.invokeExact(prefP), "cublasLtMatmulPreferenceCreate");
                MemorySegment pref = prefP.get(ADDRESS, 0);
                MemorySegment ws = t.allocateFrom(JAVA_LONG, WORKSPACE);
                check((int) prefSet.invokeExact(pref, PREF_MAX_WORKSPACE_BYTES, ws, 8L), "cublasLtMatmulPreferenceSetAttribute");
                MemorySegment results = t.allocate(HEURISTIC_BYTES, 8), count = t.allocate(JAVA_INT);
                MemorySegment A = aL.get(ADDRESS, 0), B = bL.get(ADDRESS, 0), D = dL.get(ADDRESS, 0);
                check((int) heuristic.invokeExact(handle, desc, A, B, D, D, pref, 1, results, count), "cublasLtMatmulAlgoGetHeuristic");
                if (count.get(JAVA_INT, 0) < 1) throw new CudaException("cuBLASLt has no block-scaled FP4 algorithm for m=" + m + " n=" + n + " k=" + k);
                MemorySegment al = t.allocateFrom(JAVA_FLOAT, alpha), be = t.allocateFrom(JAVA_FLOAT, 0f);
                check((int) matmul.invokeExact(handle, desc, al, a.address(), A, b.address(), B, be, d.address(), D, d.address(), D,
                        results, workspace.address(), WORKSPACE, s.handle()), "cublasLtMatmul(m=" + m + ", n=" + n + ", k=" + k + ")");
                int rc1 = (int) prefDestroy.invokeExact(pref);
                int rc2 = (int) layoutDestroy.invokeExact(A);
                int rc3 = (int) layoutDestroy.invokeExact(B);
                int rc4 = (int) layoutDestroy.invokeExact(D);
            } finally {
                int rc = (int) descDestroy.invokeExact(desc);
            }
        } catch (RuntimeException e) {
            throw e;
        } catch (Throwable e) {
            throw new IllegalStateException(e);
        }
    }

    private void setInt(Arena t, MemorySegment desc, int attr, int v) throws Throwable {
        check((int) descSet.invokeExact(desc, attr, t.allocateFrom(JAVA_INT, v), 4L), "cublasLtMatmulDescSetAttribute(" + attr + ")");
    }

    private void setLong(Arena t, MemorySegment desc, int attr, long v) throws Throwable {
        check((int) descSet.invokeExact(desc, attr, t.allocateFrom(JAVA_LONG, v), 8L), "cublasLtMatmulDescSetAttribute(" + attr + ")");
    }

    private static void check(int status, String call) {
        if (status != 0) throw new CudaException(call, status, "CUBLAS_STATUS " + status);
    }

    @Override
    public synchronized void close() {
        device.free(workspace);
        try {
            int rc = (int) destroy.invokeExact(handle);
        } catch (Throwable ignored) {
            // closing
        }
        arena.close();
    }
}
