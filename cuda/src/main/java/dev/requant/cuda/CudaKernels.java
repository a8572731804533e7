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
            add, scale, softcap, rmsNormFused, qkvPrep, softmaxCausal, attnGather, geglu, pleCombine, imatrixPartial,
            imatrixReduce, imatrixPartialSeg, imatrixReduceSeg, toBf16Split, suppressTokens, scoreBase, scoreKld, moeRoute, gatherRows, moeCombine;
    /** Rows per segment of {@link #imatrixRows} (IMX_SEG in kernels.cu). */
    public static final int IMATRIX_SEGMENT_ROWS = 64;

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
        rmsNormFused = module.kernel("rms_norm_fused");
        qkvPrep = module.kernel("qkv_prep");
        softmaxCausal = module.kernel("softmax_causal");
        attnGather = module.kernel("attn_gather");
        geglu = module.kernel("geglu");
        pleCombine = module.kernel("ple_combine");
        imatrixPartial = module.kernel("imatrix_partial");
        imatrixReduce = module.kernel("imatrix_reduce");
        imatrixPartialSeg = module.kernel("imatrix_partial_seg");
        imatrixReduceSeg = module.kernel("imatrix_reduce_seg");
        toBf16Split = module.kernel("f32_to_bf16_split");
        suppressTokens = module.kernel("suppress_tokens");
        scoreBase = module.kernel("score_base");
        scoreKld = module.kernel("score_kld");
        moeRoute = module.kernel("moe_route");
        gatherRows = module.kernel("gather_rows");
        moeCombine = module.kernel("moe_combine");
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

    /** Whether {@link #getRows} and {@link #dequantize} read this type (ggml_element in kernels.cu). */
    public static boolean reads(GgmlType t) {
        return switch (t) {
            case F32, F16, BF16, Q4_0, Q4_1, Q5_0, Q5_1, Q8_0, Q4_K, Q5_K, Q6_K, MXFP4, NVFP4 -> true;
            default -> false;
        };
    }

    static int typeId(GgmlType t) {
        if (!reads(t)) throw new UnsupportedOperationException("the CUDA kernels do not read " + t.ggmlName() + " yet");
        return t.id();
    }

    /** Embedding lookup: {@code out[t] = table[ids[t]] * scale}, the table in any type {@link #typeId} accepts. */
    public synchronized void getRows(CudaStream s, DeviceBuffer table, GgmlType type, int cols, DeviceBuffer ids,
                                     int tokens, float scale, DeviceBuffer out, long outStride) {
        args.reset().ptr(table).i32(typeId(type)).i64(type.rowBytes(cols)).ptr(ids).i32(cols).f32(scale).ptr(out).i64(outStride);
        getRows.launch(tokens, 1, 1, BLOCK, 0, s, args);
    }

    /** {@code n} elements (whole rows) of a GGML tensor to float32 or, with {@code toBf16}, bfloat16. */
    public void dequantize(CudaStream s, DeviceBuffer src, GgmlType type, long n, DeviceBuffer dst, boolean toBf16) {
        dequantize(s, src, type, n, dst, toBf16, 1f);
    }

    /**
     * {@code n} elements (whole rows) of a GGML tensor, exactly as ggml's {@code dequantize_row_*} computes them, each
     * multiplied by {@code scale} unless it is 1, to float32 or, with {@code toBf16}, rounded to bfloat16.
     */
    public synchronized void dequantize(CudaStream s, DeviceBuffer src, GgmlType type, long n, DeviceBuffer dst,
                                        boolean toBf16, float scale) {
        dst.require(n, toBf16 ? 2 : 4, "dequantized output");
        if (n % type.blockSize() != 0) throw new IllegalArgumentException(n + " elements are not whole " + type.ggmlName() + " blocks");
        args.reset().ptr(src).i32(typeId(type)).i64(n).ptr(dst).i32(toBf16 ? 1 : 0).f32(scale);
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

    // ---------------------------------------------------------------- the batched forward pass (runtime/cuda)

    /** Float scratch {@link #imatrixRows} needs for {@code rows} rows of up to {@code cols} columns. */
    public static long imatrixScratchFloats(int rows, int cols) {
        return (long) Math.max(1, (rows + IMATRIX_SEGMENT_ROWS - 1) / IMATRIX_SEGMENT_ROWS) * cols;
    }

    /**
     * {@code sums[j] += Σ_r x[r][j]²} over {@code rows} rows, spread over the GPU in segments of
     * {@link #IMATRIX_SEGMENT_ROWS} rows (partial sums in {@code scratch}, then added in segment order). Float
     * rounding differs from llama-imatrix's row-by-row order ({@link #imatrixDense} keeps that order).
     *
     * @param firstBad one int, lowered to the first column whose sum is not finite
     */
    public synchronized void imatrixRows(CudaStream s, DeviceBuffer x, long rowStride, int rows, int cols,
                                         DeviceBuffer scratch, DeviceBuffer sums, DeviceBuffer firstBad) {
        if (rows <= 0) return;
        int segments = (rows + IMATRIX_SEGMENT_ROWS - 1) / IMATRIX_SEGMENT_ROWS;
        scratch.require((long) segments * cols, 4, "imatrix scratch");
        sums.require(cols, 4, "imatrix sums");
        args.reset().ptr(x).i64(rowStride).i32(rows).i32(cols).ptr(scratch);
        imatrixPartial.launch(blocks(cols, 128), segments, 1, 128, 0, s, args);
        args.reset().ptr(scratch).i32(segments).i32(cols).ptr(sums).ptr(firstBad);
        imatrixReduce.launch(blocks(cols, 128), 1, 1, 128, 0, s, args);
    }

    /**
     * The segments {@link #imatrixExpertRows} cuts the experts' row groups into: for each expert that received rows
     * (in expert order), its rows from its first on in pieces of {@link #IMATRIX_SEGMENT_ROWS}, as
     * {@link #imatrixRows} cuts one expert's. Four int arrays, uploaded as one: segment first rows and row counts,
     * each expert's first segment (one more entry: the end), and the experts' indices.
     *
     * @param start first row of each expert's group; @param count rows of each expert
     */
    public record ExpertSegments(int[] table, int segments, int experts) {
        public static ExpertSegments of(int[] start, int[] count, int nExpert) {
            int segs = 0, used = 0;
            for (int e = 0; e < nExpert; e++) {
                if (count[e] == 0) continue;
                used++;
                segs += (count[e] + IMATRIX_SEGMENT_ROWS - 1) / IMATRIX_SEGMENT_ROWS;
            }
            int[] t = new int[2 * segs + used + 1 + used];
            int s = 0, i = 0;
            for (int e = 0; e < nExpert; e++) {
                if (count[e] == 0) continue;
                t[2 * segs + i] = s;
                t[2 * segs + used + 1 + i] = e;
                for (int r = 0; r < count[e]; r += IMATRIX_SEGMENT_ROWS, s++) {
                    t[s] = start[e] + r;
                    t[segs + s] = Math.min(IMATRIX_SEGMENT_ROWS, count[e] - r);
                }
                i++;
            }
            t[2 * segs + used] = s;
            return new ExpertSegments(t, segs, used);
        }

        /** Ints of the largest table for {@code rows} routed rows over {@code nExpert} experts. */
        public static long maxInts(long rows, int nExpert) {
            long segs = rows / IMATRIX_SEGMENT_ROWS + nExpert;
            return 2 * segs + 2L * nExpert + 1;
        }
    }

    /**
     * {@link #imatrixRows} for every expert of a MoE layer at once: {@code sums + e * cols} += the Σx² of expert e's
     * rows, for the experts and segments of {@code seg} (uploaded to {@code table}); the same floats as per-expert calls.
     */
    public synchronized void imatrixExpertRows(CudaStream s, DeviceBuffer x, long rowStride, ExpertSegments seg, DeviceBuffer table,
                                               int cols, DeviceBuffer scratch, DeviceBuffer sums, DeviceBuffer firstBad) {
        if (seg.experts() == 0) return;
        scratch.require((long) seg.segments() * cols, 4, "imatrix scratch");
        table.require(seg.table().length, 4, "expert segment table");
        long segN = 4L * seg.segments(), first = 8L * seg.segments(), ids = first + 4L * (seg.experts() + 1);
        args.reset().ptr(x).i64(rowStride).ptr(table).ptr(table.slice(segN, segN)).i32(cols).ptr(scratch);
        imatrixPartialSeg.launch(blocks(cols, 128), seg.segments(), 1, 128, 0, s, args);
        args.reset().ptr(scratch).ptr(table.slice(first, 4L * (seg.experts() + 1))).ptr(table.slice(ids, 4L * seg.experts())).i32(cols)
                .ptr(sums).ptr(firstBad);
        imatrixReduceSeg.launch(blocks(cols, 128), seg.experts(), 1, 128, 0, s, args);
    }

    /**
     * Per row of {@code n}: {@code v = rmsnorm(x) * w} ({@code w} may be null); {@code y = v}, or {@code y += v} with
     * {@code accumulate}; {@code yb} (may be null) receives v as bf16 and {@code yl} (may be null) the bf16 of
     * {@code v - yb}, the low half of a two-GEMM split. {@code y} may be null when only the bf16 rows are wanted.
     */
    public synchronized void rmsNormFused(CudaStream s, DeviceBuffer x, long xStride, DeviceBuffer w, DeviceBuffer y,
                                          long yStride, DeviceBuffer yb, DeviceBuffer yl, long ybStride, int rows, int n,
                                          float eps, boolean accumulate) {
        if (rows <= 0) return;
        args.reset().ptr(x).i64(xStride).ptr(w).ptr(y).i64(yStride).ptr(yb).ptr(yl).i64(ybStride).i32(n).f32(eps)
                .i32(accumulate ? 1 : 0);
        rmsNormFused.launch(rows, 1, 1, BLOCK, 0, s, args);
    }

    /** The shape of one layer's {@link #qkvPrep} call. */
    public record QkvShape(int tokens, int seqLen, int heads, int kvHeads, int headDim, int nRot, long ld, int qOffset,
                           int kOffset, int vOffset, boolean vNorm, float eps) {
        public QkvShape {
            if (nRot % 2 != 0 || nRot > headDim) throw new IllegalArgumentException("n_rot " + nRot + " for head_dim " + headDim);
            if (tokens % seqLen != 0) throw new IllegalArgumentException(tokens + " tokens are not whole sequences of " + seqLen);
        }
    }

    /**
     * Q/K/V of a fused projection into head-major f16 ({@code q: [seq][head][pos][dim]}, {@code k, v:
     * [seq][kvHead][pos][dim]}): q and k RMS-normalized with their weights and NEOX-rotated with the angles of
     * {@code ropeCos/ropeSin} ({@code [pos][nRot/2]} floats), v normalized without weight when {@code vNorm}.
     * {@code kvHeads == 0}: Q only (a KV-shared layer).
     */
    public synchronized void qkvPrep(CudaStream s, QkvShape q, DeviceBuffer qkv, DeviceBuffer qNorm, DeviceBuffer kNorm,
                                     DeviceBuffer ropeCos, DeviceBuffer ropeSin, DeviceBuffer qh, DeviceBuffer kh, DeviceBuffer vh) {
        ropeCos.require((long) q.seqLen() * (q.nRot() / 2), 4, "rope cos table");
        ropeSin.require((long) q.seqLen() * (q.nRot() / 2), 4, "rope sin table");
        args.reset().ptr(qkv).i64(q.ld()).i32(q.qOffset()).i32(q.kOffset()).i32(q.vOffset()).ptr(qNorm).ptr(kNorm)
                .i32(q.vNorm() ? 1 : 0).i32(q.heads()).i32(q.kvHeads()).i32(q.headDim()).i32(q.nRot()).i32(q.seqLen())
                .ptr(ropeCos).ptr(ropeSin).f32(q.eps()).ptr(qh).ptr(kh).ptr(vh);
        qkvPrep.launch(q.tokens(), q.heads() + 2 * q.kvHeads(), 1, 128, 4 * q.headDim(), s, args);
    }

    /**
     * Causal softmax of {@code batches} blocks of {@code rows x n} f32 scores into f16 probabilities; row r of a block
     * is the query at position {@code r % n}; {@code window > 0} limits it to the last {@code window} keys.
     */
    public synchronized void softmaxCausal(CudaStream s, DeviceBuffer scores, DeviceBuffer probs, int rows, int n,
                                           int window, int batches) {
        scores.require((long) rows * n * batches, 4, "scores");
        probs.require((long) rows * n * batches, 2, "probabilities");
        args.reset().ptr(scores).ptr(probs).i32(rows).i32(n).i32(window);
        softmaxCausal.launch(rows, batches, 1, 128, 0, s, args);
    }

    /**
     * Head-major {@code o[seq][head][pos][dim]} to token-major f32 {@code y[token][head*dim]} and its bf16 split
     * {@code yb}/{@code yl} ({@code yl} may be null).
     */
    public synchronized void attnGather(CudaStream s, DeviceBuffer o, DeviceBuffer y, DeviceBuffer yb, DeviceBuffer yl,
                                        int tokens, int heads, int headDim, int seqLen) {
        long n = (long) tokens * heads * headDim;
        y.require(n, 4, "attention rows");
        yb.require(n, 2, "attention rows bf16");
        args.reset().ptr(o).ptr(y).ptr(yb).ptr(yl).i32(heads).i32(headDim).i32(seqLen);
        attnGather.launch(tokens, 1, 1, BLOCK, 0, s, args);
    }

    /**
     * {@code out = gelu_tanh(gate) * up} ({@code up} null: gelu alone) per row, also as the bf16 split
     * {@code outb}/{@code outl} ({@code outl} may be null; both with row stride {@code outbStride}).
     */
    public synchronized void geglu(CudaStream s, DeviceBuffer gate, long gateStride, DeviceBuffer up, long upStride,
                                   DeviceBuffer out, long outStride, DeviceBuffer outb, DeviceBuffer outl, long outbStride,
                                   int rows, int cols) {
        if (rows <= 0) return;
        args.reset().ptr(gate).i64(gateStride).ptr(up).i64(upStride).ptr(out).i64(outStride).ptr(outb).ptr(outl)
                .i64(outbStride).i32(cols);
        geglu.launch(rows, 1, 1, BLOCK, 0, s, args);
    }

    /** float32 to a bf16 split: {@code hi = bf16(x)}, {@code lo = bf16(x - hi)} ({@code lo} may be null). */
    public synchronized void f32ToBf16Split(CudaStream s, DeviceBuffer x, DeviceBuffer hi, DeviceBuffer lo, long n) {
        hi.require(n, 2, "bf16 output");
        args.reset().ptr(x).ptr(hi).ptr(lo).i64(n);
        toBf16Split.launch(blocks(n, BLOCK), 1, 1, BLOCK, 0, s, args);
    }

    /**
     * Gemma 4 per-layer inputs: for each token and layer, {@code ple = (rmsnorm(proj * projScale) * w + ple) * inScale}
     * over the layer's {@code pd} columns; rows of {@code stride} floats hold {@code layers * pd}.
     */
    public synchronized void pleCombine(CudaStream s, DeviceBuffer proj, DeviceBuffer ple, long stride, int tokens,
                                        int layers, int pd, DeviceBuffer w, float projScale, float inScale, float eps) {
        args.reset().ptr(proj).ptr(ple).i64(stride).i32(pd).ptr(w).f32(projScale).f32(inScale).f32(eps);
        pleCombine.launch(tokens, layers, 1, 128, 4 * pd, s, args);
    }

    // ---------------------------------------------------------------- eval scores

    /** Sets column {@code ids[i]} of every one of {@code rows} rows (row stride {@code ld}) to -inf. */
    public synchronized void suppressTokens(CudaStream s, DeviceBuffer y, long ld, int rows, DeviceBuffer ids, int nIds) {
        if (rows <= 0 || nIds <= 0) return;
        args.reset().ptr(y).i64(ld).i32(rows).ptr(ids).i32(nIds);
        suppressTokens.launch(blocks((long) rows * nIds, BLOCK), 1, 1, BLOCK, 0, s, args);
    }

    /**
     * A reference's scored rows ({@code rows x n} logits): log-probs into {@code base}, their first arg-max,
     * the target's NLL in float ({@code baseNll} and {@code nll}) and in double ({@code nllExact}).
     */
    public synchronized void scoreBase(CudaStream s, DeviceBuffer logits, int rows, int n, DeviceBuffer targets,
                                       DeviceBuffer base, DeviceBuffer argmax, DeviceBuffer baseNll, DeviceBuffer nll,
                                       DeviceBuffer nllExact) {
        logits.require((long) rows * n, 4, "logits");
        base.require((long) rows * n, 4, "base log-probs");
        args.reset().ptr(logits).i32(n).ptr(targets).ptr(base).ptr(argmax).ptr(baseNll).ptr(nll).ptr(nllExact);
        scoreBase.launch(rows, 1, 1, 1024, 0, s, args);
    }

    /**
     * A compared model's scored rows against a reference's: NLL, the reference's NLL, KLD (double), Δp and
     * whether the arg-maxes agree (int 0/1).
     */
    public synchronized void scoreKld(CudaStream s, DeviceBuffer logits, int rows, int n, DeviceBuffer targets,
                                      DeviceBuffer base, DeviceBuffer argmax, DeviceBuffer baseNll, DeviceBuffer nll,
                                      DeviceBuffer nllBase, DeviceBuffer kld, DeviceBuffer pDiff, DeviceBuffer sameTop) {
        logits.require((long) rows * n, 4, "logits");
        base.require((long) rows * n, 4, "base log-probs");
        args.reset().ptr(logits).i32(n).ptr(targets).ptr(base).ptr(argmax).ptr(baseNll).ptr(nll).ptr(nllBase).ptr(kld)
                .ptr(pDiff).ptr(sameTop);
        scoreKld.launch(rows, 1, 1, 1024, 0, s, args);
    }

    // ---------------------------------------------------------------- mixture of experts

    /**
     * Gemma 4 routing of {@code tokens} rows of {@code nExp} router logits: softmax, the top {@code k} (ties: lower
     * expert first), weights normalized over the chosen; {@code ids} and {@code weights} are {@code tokens x k}.
     */
    public synchronized void moeRoute(CudaStream s, DeviceBuffer logits, int tokens, int nExp, int k, DeviceBuffer ids,
                                      DeviceBuffer weights) {
        if (nExp > 256 || k > 16 || k > nExp) throw new IllegalArgumentException(k + " of " + nExp + " experts");
        ids.require((long) tokens * k, 4, "expert ids");
        weights.require((long) tokens * k, 4, "expert weights");
        args.reset().ptr(logits).i32(tokens).i32(nExp).i32(k).ptr(ids).ptr(weights);
        moeRoute.launch(blocks(tokens, 128), 1, 1, 128, 0, s, args);
    }

    /**
     * {@code dst[i] = src[rows[i]]} for {@code count} rows of {@code n} floats, with the bf16 split ({@code dstl} may be
     * null); a negative {@code rows[i]} gives a row of zeros (padding).
     */
    public synchronized void gatherRows(CudaStream s, DeviceBuffer src, DeviceBuffer rows, int count, int n, DeviceBuffer dst,
                                        DeviceBuffer dstb, DeviceBuffer dstl) {
        if (count <= 0) return;
        dst.require((long) count * n, 4, "gathered rows");
        dstb.require((long) count * n, 2, "gathered rows bf16");
        args.reset().ptr(src).ptr(rows).i32(n).ptr(dst).ptr(dstb).ptr(dstl);
        gatherRows.launch(count, 1, 1, BLOCK, 0, s, args);
    }

    /** {@code out[t] = Σ_j w[t][j] · d[pos[t][j]]} for {@code tokens} rows of {@code n}, the terms in ascending row order. */
    public synchronized void moeCombine(CudaStream s, DeviceBuffer d, DeviceBuffer pos, DeviceBuffer w, int tokens, int k,
                                        int n, DeviceBuffer out) {
        if (k > 16) throw new IllegalArgumentException(k + " experts per token");
        out.require((long) tokens * n, 4, "combined rows");
        args.reset().ptr(d).ptr(pos).ptr(w).i32(k).i32(n).ptr(out);
        moeCombine.launch(tokens, 1, 1, BLOCK, 0, s, args);
    }

    @Override
    public void close() { module.close(); }
}
