package dev.requant.cuda;

import dev.requant.formats.ggml.GgmlType;
import java.io.IOException;
import java.io.InputStream;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;

/**
 * The kernels of {@code kernels.cu}, compiled by NVRTC for this GPU (through the {@link KernelCache}) and launched
 * with typed arguments. Pointers are {@link DeviceBuffer}s, strides and counts are in elements. Launches are
 * asynchronous on the given stream. One instance may be shared by threads (launches are serialised).
 */
public final class CudaKernels implements AutoCloseable {
    public static final String SOURCE = "kernels.cu";
    private static final int BLOCK = 256;

    private final CudaModule module;
    private final KernelArgs args = new KernelArgs();
    private final CudaKernel imatrixDense, imatrixExperts, rmsNorm, rope, attention, gelu, getRows, dequantize, toBf16,
            add, scale, softcap;

    private CudaKernels(CudaModule module) {
        this.module = module;
        imatrixDense = module.kernel("imatrix_dense");
        imatrixExperts = module.kernel("imatrix_experts");
        rmsNorm = module.kernel("rms_norm");
        rope = module.kernel("rope_neox");
        attention = module.kernel("attention");
        gelu = module.kernel("gelu_tanh_mul");
        getRows = module.kernel("get_rows");
        dequantize = module.kernel("dequantize");
        toBf16 = module.kernel("f32_to_bf16_kernel");
        add = module.kernel("add_f32");
        scale = module.kernel("scale_f32");
        softcap = module.kernel("softcap_f32");
    }

    /** Compiles (or takes from the default cache) and loads the kernels for {@code device}. */
    public static CudaKernels load(CudaDevice device) throws CudaUnavailableException {
        return load(device, new KernelCache(KernelCache.defaultDirectory(System.getenv())));
    }

    public static CudaKernels load(CudaDevice device, KernelCache cache) throws CudaUnavailableException {
        byte[] cubin = cache.cubin(SOURCE, source(), device.info().arch(), device.nvrtc());
        device.makeCurrent();
        return new CudaKernels(device.loadModule(cubin));
    }

    /** The CUDA C source, from the classpath. */
    public static String source() {
        try (InputStream in = CudaKernels.class.getResourceAsStream(SOURCE)) {
            if (in == null) throw new IllegalStateException(SOURCE + " is missing from the classpath");
            return new String(in.readAllBytes(), StandardCharsets.UTF_8);
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    private static int blocks(long n, int block) {
        long b = (n + block - 1) / block;
        if (b > Integer.MAX_VALUE) throw new IllegalArgumentException(n + " elements are too many for one launch");
        return (int) b;
    }

    // ---------------------------------------------------------------- imatrix

    /**
     * llama-imatrix's dense accumulation: {@code sums[j] += x[r][j]^2} over {@code rows} rows in order, float32, no
     * FMA; bit-identical to {@code ImatrixAccumulator.addDense} for the same rows. The count (rows) is the caller's.
     *
     * @param firstBad one int set to Integer.MAX_VALUE beforehand; receives the lowest column whose sum overflowed
     */
    public synchronized void imatrixDense(CudaStream s, DeviceBuffer x, long rowStride, int rows, int cols,
                                          DeviceBuffer sums, DeviceBuffer firstBad) {
        sums.require(cols, 4, "imatrix sums");
        args.reset().ptr(x).i64(rowStride).i32(rows).i32(cols).ptr(sums).ptr(firstBad);
        imatrixDense.launch(blocks(cols, 128), 1, 1, 128, 0, s, args);
    }

    /**
     * llama-imatrix's expert (MUL_MAT_ID) accumulation into {@code sums[experts][cols]} and {@code counts[experts]}
     * (unsigned 64-bit), in ImatrixAccumulator.addExperts' order.
     */
    public synchronized void imatrixExperts(CudaStream s, DeviceBuffer x, DeviceBuffer ids, int tokens, int slots,
                                            int inputRows, int cols, int experts, DeviceBuffer sums, DeviceBuffer counts,
                                            DeviceBuffer firstBad) {
        sums.require((long) cols * experts, 4, "imatrix sums");
        counts.require(experts, 8, "imatrix counts");
        args.reset().ptr(x).ptr(ids).i32(tokens).i32(slots).i32(inputRows).i32(cols).i32(experts).ptr(sums).ptr(counts).ptr(firstBad);
        imatrixExperts.launch(blocks(cols, 128), experts, 1, 128, 0, s, args);
    }

    // ---------------------------------------------------------------- layers

    /** {@code y = x / sqrt(mean(x^2) + eps) * w} per row of {@code n}; {@code w} may be null (no weight). */
    public synchronized void rmsNorm(CudaStream s, DeviceBuffer x, long xStride, DeviceBuffer w, DeviceBuffer y,
                                     long yStride, int rows, int n, float eps) {
        args.reset().ptr(x).i64(xStride).ptr(w).ptr(y).i64(yStride).i32(n).f32(eps);
        rmsNorm.launch(rows, 1, 1, BLOCK, 0, s, args);
    }

    /** NEOX rope in place; {@code positions} holds one int32 per token, {@code freqFactors} may be null. */
    public synchronized void ropeNeox(CudaStream s, DeviceBuffer x, long tokenStride, DeviceBuffer positions, int tokens,
                                      int heads, int headDim, int nRot, float freqBase, float freqScale,
                                      DeviceBuffer freqFactors) {
        if (nRot % 2 != 0 || nRot > headDim) throw new IllegalArgumentException("n_rot " + nRot + " for head_dim " + headDim);
        args.reset().ptr(x).i64(tokenStride).ptr(positions).i32(tokens).i32(heads).i32(headDim).i32(nRot)
                .f32(freqBase).f32(freqScale).ptr(freqFactors);
        rope.launch(blocks((long) tokens * heads * (nRot / 2), BLOCK), 1, 1, BLOCK, 0, s, args);
    }

    /** Causal (optionally sliding-window) GQA attention in float32; see {@link AttentionShape}. */
    public synchronized void attention(CudaStream s, AttentionShape a, DeviceBuffer q, DeviceBuffer k, DeviceBuffer v,
                                       DeviceBuffer o) {
        args.reset().ptr(q).i64(a.qTokenStride()).i64(a.qSeqStride()).ptr(k).ptr(v).i64(a.kvTokenStride())
                .i64(a.kvSeqStride()).ptr(o).i64(a.oTokenStride()).i64(a.oSeqStride()).i32(a.keys()).i32(a.heads())
                .i32(a.kvHeads()).i32(a.headDim()).i32(a.queryPos0()).i32(a.window()).f32(a.scale()).f32(a.softcap());
        attention.launch(a.queries(), a.heads(), a.sequences(), 128, 4 * a.headDim() * 4, s, args);
    }

    /** {@code out = gelu_tanh(gate) * up} per row ({@code up} null: gelu alone); may run in place on gate. */
    public synchronized void geluTanhMul(CudaStream s, DeviceBuffer gate, long gateStride, DeviceBuffer up, long upStride,
                                         DeviceBuffer out, long outStride, int rows, int cols) {
        args.reset().ptr(gate).i64(gateStride).ptr(up).i64(upStride).ptr(out).i64(outStride).i32(rows).i32(cols);
        gelu.launch(blocks((long) rows * cols, BLOCK), 1, 1, BLOCK, 0, s, args);
    }

    static int typeId(GgmlType t) {
        return switch (t) {
            case F32, F16, BF16, Q8_0, Q4_0 -> t.id();
            default -> throw new UnsupportedOperationException("the CUDA kernels do not read " + t.ggmlName() + " yet");
        };
    }

    /** Embedding lookup: {@code out[t] = table[ids[t]] * scale}, the table in any type {@link #typeId} accepts. */
    public synchronized void getRows(CudaStream s, DeviceBuffer table, GgmlType type, int cols, DeviceBuffer ids,
                                     int tokens, float scale, DeviceBuffer out, long outStride) {
        args.reset().ptr(table).i32(typeId(type)).i64(type.rowBytes(cols)).ptr(ids).i32(cols).f32(scale).ptr(out).i64(outStride);
        getRows.launch(tokens, 1, 1, BLOCK, 0, s, args);
    }

    /** {@code n} elements (whole rows) of a GGML tensor to float32 or, with {@code toBf16}, bfloat16. */
    public synchronized void dequantize(CudaStream s, DeviceBuffer src, GgmlType type, long n, DeviceBuffer dst, boolean toBf16) {
        dst.require(n, toBf16 ? 2 : 4, "dequantized output");
        args.reset().ptr(src).i32(typeId(type)).i64(n).ptr(dst).i32(toBf16 ? 1 : 0);
        dequantize.launch(blocks(n, BLOCK), 1, 1, BLOCK, 0, s, args);
    }

    /** float32 to bfloat16, round to nearest even (the GEMM input). */
    public synchronized void f32ToBf16(CudaStream s, DeviceBuffer x, DeviceBuffer y, long n) {
        y.require(n, 2, "bf16 output");
        args.reset().ptr(x).ptr(y).i64(n);
        toBf16.launch(blocks(n, BLOCK), 1, 1, BLOCK, 0, s, args);
    }

    /** {@code y += x}. */
    public synchronized void add(CudaStream s, DeviceBuffer y, DeviceBuffer x, long n) {
        args.reset().ptr(y).ptr(x).i64(n);
        add.launch(blocks(n, BLOCK), 1, 1, BLOCK, 0, s, args);
    }

    /** {@code y *= factor}. */
    public synchronized void scale(CudaStream s, DeviceBuffer y, float factor, long n) {
        args.reset().ptr(y).f32(factor).i64(n);
        scale.launch(blocks(n, BLOCK), 1, 1, BLOCK, 0, s, args);
    }

    /** {@code y = cap * tanh(y / cap)}. */
    public synchronized void softcap(CudaStream s, DeviceBuffer y, float cap, long n) {
        args.reset().ptr(y).f32(cap).i64(n);
        softcap.launch(blocks(n, BLOCK), 1, 1, BLOCK, 0, s, args);
    }

    @Override
    public void close() { module.close(); }
}
