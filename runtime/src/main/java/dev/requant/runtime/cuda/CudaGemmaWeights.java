package dev.requant.runtime.cuda;

import dev.requant.cuda.CudaDevice;
import dev.requant.cuda.CudaKernels;
import dev.requant.cuda.CudaWorkspace;
import dev.requant.cuda.DeviceBuffer;
import dev.requant.cuda.WorkspaceLayout;
import dev.requant.formats.ggml.BFloat16;
import dev.requant.formats.ggml.BlockCodec;
import dev.requant.formats.ggml.GgmlType;
import dev.requant.formats.model.GemmaConfig;
import dev.requant.formats.model.LayerConfig;
import dev.requant.runtime.model.GemmaWeights;
import dev.requant.runtime.model.LayerWeights;
import dev.requant.runtime.model.WeightTensor;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.ArrayList;
import java.util.List;
import java.util.function.Consumer;

/**
 * A Gemma model's weights on one GPU, uploaded once into a single allocation: every matrix as bf16 (the cuBLAS GEMM
 * operand), with the matrices that share an input fused ({@code attn_q|attn_k|attn_v} and {@code ffn_gate|ffn_up},
 * rows stacked), norms and RoPE factors as float32, the embedding tables in their stored type when the
 * {@code get_rows} kernel reads it (an exact lookup) or else as bf16, and, for sessions that compute logits, the LM
 * head as bf16 (the token embedding table itself when the head is tied and stored in BF16).
 *
 * <p>Conversion to bf16 happens on the GPU for the types the {@code dequantize} kernel reads
 * ({@link CudaKernels#reads}: F32, F16, BF16, Q4_0, Q4_1, Q5_0, Q5_1, Q8_0, Q4_K, Q5_K, Q6_K, MXFP4, NVFP4; the raw
 * bytes go through a staging buffer, each matrix times its output scale): every value exactly as ggml's
 * {@code dequantize_row_*} gives it, then rounded to bf16. Other types are decoded on the host with the formats
 * module's codecs, times their output scales, and rounded to bf16 there.
 */
final class CudaGemmaWeights implements AutoCloseable {
    /** A table for {@code get_rows}: its bytes on the GPU and the GGML type they are in. */
    record Table(DeviceBuffer data, GgmlType type) {}

    /** One layer's device tensors; null where the layer has none. */
    record Layer(DeviceBuffer attnNorm, DeviceBuffer qkv, int qkvRows, DeviceBuffer qNorm, DeviceBuffer kNorm,
                 DeviceBuffer attnOutput, DeviceBuffer postAttentionNorm, DeviceBuffer ffnNorm, DeviceBuffer gateUp,
                 DeviceBuffer down, DeviceBuffer postFfwNorm, DeviceBuffer inpGate, DeviceBuffer proj,
                 DeviceBuffer postNorm, Moe moe) {}

    /**
     * A Gemma 4 mixture-of-experts block: the router's folded input scale ({@code ffn_gate_inp.scale / sqrt(n_embd)})
     * and matrix in float32 (the top-k choice is sensitive to it), the norms, and the stacked expert matrices in bf16
     * with their per-expert output scales applied: {@code gateUp} holds each expert's gate rows then up rows, or only
     * the gate rows when {@code up} is separate.
     */
    record Moe(DeviceBuffer routerScale, DeviceBuffer gateInp, DeviceBuffer preFfwNorm2, DeviceBuffer postFfwNorm1,
               DeviceBuffer postFfwNorm2, DeviceBuffer gateUp, DeviceBuffer up, DeviceBuffer down) {}

    private final CudaWorkspace memory;
    final Table tokenEmbd;
    final Table perLayerTokenEmbd;
    final DeviceBuffer perLayerModelProj;
    final DeviceBuffer perLayerProjNorm;
    final DeviceBuffer outputNorm;
    final DeviceBuffer ropeFreqs;
    /** The LM head as bf16 [n_vocab x n_embd], or null when not uploaded. */
    final DeviceBuffer output;
    final List<Layer> layers;
    final long bytes;

    private CudaGemmaWeights(CudaWorkspace memory, Table tokenEmbd, Table perLayerTokenEmbd, DeviceBuffer perLayerModelProj,
                             DeviceBuffer perLayerProjNorm, DeviceBuffer outputNorm, DeviceBuffer ropeFreqs,
                             DeviceBuffer output, List<Layer> layers) {
        this.memory = memory;
        this.tokenEmbd = tokenEmbd;
        this.perLayerTokenEmbd = perLayerTokenEmbd;
        this.perLayerModelProj = perLayerModelProj;
        this.perLayerProjNorm = perLayerProjNorm;
        this.outputNorm = outputNorm;
        this.ropeFreqs = ropeFreqs;
        this.output = output;
        this.layers = List.copyOf(layers);
        this.bytes = memory.layout().totalBytes();
    }

    /** Whether {@code get_rows} and {@code dequantize} read this type on the GPU. */
    static boolean gpuReadable(GgmlType t) { return CudaKernels.reads(t); }

    /** Whether the token embedding table, as uploaded, is the tied LM head's bf16 matrix too. */
    private static boolean tiedBf16(GemmaWeights w) {
        WeightTensor t = w.tokenEmbd();
        return w.output() == t && t.type() == GgmlType.BF16 && t.outputScales() == null;
    }

    private static long elements(WeightTensor t) { return (long) t.cols() * t.rows() * t.matrices(); }

    private static long tableBytes(WeightTensor t) {
        return gpuReadable(t.type()) && t.outputScales() == null ? (long) t.rows() * t.rowBytes() : elements(t) * 2;
    }

    /**
     * Plans, allocates and uploads; {@code log} hears one line per phase.
     *
     * @param lmHead whether the LM head is needed (sessions that compute logits)
     */
    static CudaGemmaWeights upload(CudaDevice device, CudaKernels kernels, GemmaConfig c, GemmaWeights w, boolean lmHead,
                                   Consumer<String> log) {
        WorkspaceLayout plan = new WorkspaceLayout();
        plan.add("token_embd", tableBytes(w.tokenEmbd()));
        boolean ownHead = lmHead && !tiedBf16(w);
        if (ownHead) plan.add("output", 2 * elements(w.output()));
        plan.floats("output_norm", c.nEmbd());
        if (w.ropeFreqs() != null) plan.floats("rope_freqs", w.ropeFreqs().length);
        if (c.hasPerLayerInputs()) {
            plan.add("per_layer_token_embd", tableBytes(w.perLayerTokenEmbd()));
            plan.add("per_layer_model_proj", 2 * elements(w.perLayerModelProj()));
            plan.floats("per_layer_proj_norm", w.perLayerProjNorm().length);
        }
        for (LayerConfig lc : c.layers()) {
            LayerWeights lw = w.layer(lc.index());
            String p = "blk." + lc.index() + ".";
            plan.floats(p + "attn_norm", c.nEmbd());
            plan.add(p + "qkv", 2L * c.nEmbd() * qkvRows(lw));
            plan.floats(p + "q_norm", lw.attnQNorm().length);
            if (lw.attnKNorm() != null) plan.floats(p + "k_norm", lw.attnKNorm().length);
            plan.add(p + "attn_output", 2 * elements(lw.attnOutput()));
            plan.floats(p + "post_attention_norm", c.nEmbd());
            plan.floats(p + "ffn_norm", c.nEmbd());
            plan.add(p + "gate_up", 2 * (elements(lw.ffnGate()) + elements(lw.ffnUp())));
            plan.add(p + "down", 2 * elements(lw.ffnDown()));
            plan.floats(p + "post_ffw_norm", c.nEmbd());
            if (lw.inpGate() != null) {
                plan.add(p + "inp_gate", 2 * elements(lw.inpGate()));
                plan.add(p + "proj", 2 * elements(lw.proj()));
                plan.floats(p + "post_norm", c.nEmbd());
            }
            if (lw.hasMoe()) {
                LayerWeights.Moe m = lw.moe();
                plan.floats(p + "router_scale", c.nEmbd()).floats(p + "gate_inp", elements(m.gateInp()))
                        .floats(p + "pre_ffw_norm_2", c.nEmbd()).floats(p + "post_ffw_norm_1", c.nEmbd())
                        .floats(p + "post_ffw_norm_2", c.nEmbd())
                        .add(p + "gate_up_exps", 2 * elements(m.gateUpExps() != null ? m.gateUpExps() : m.gateExps()))
                        .add(p + "up_exps", m.gateUpExps() != null ? 0 : 2 * elements(m.upExps()))
                        .add(p + "down_exps", 2 * elements(m.downExps()));
            }
        }
        CudaWorkspace mem = CudaWorkspace.allocate(device, plan);
        long t0 = System.nanoTime();
        try (Uploader up = new Uploader(device, kernels)) {
            Table te = up.table(w.tokenEmbd(), mem.get("token_embd"));
            DeviceBuffer head = null;
            if (ownHead) {
                head = mem.get("output");
                up.matrix(w.output(), head, 0);
            } else if (lmHead) {
                head = te.data();
            }
            DeviceBuffer outNorm = up.floats(w.outputNorm(), mem.get("output_norm"));
            DeviceBuffer rope = w.ropeFreqs() == null ? null : up.floats(w.ropeFreqs(), mem.get("rope_freqs"));
            Table ple = null;
            DeviceBuffer pleProj = null, pleNorm = null;
            if (c.hasPerLayerInputs()) {
                ple = up.table(w.perLayerTokenEmbd(), mem.get("per_layer_token_embd"));
                pleProj = mem.get("per_layer_model_proj");
                up.matrix(w.perLayerModelProj(), pleProj, 0);
                pleNorm = up.floats(w.perLayerProjNorm(), mem.get("per_layer_proj_norm"));
            }
            List<Layer> layers = new ArrayList<>();
            for (LayerConfig lc : c.layers()) {
                LayerWeights lw = w.layer(lc.index());
                String p = "blk." + lc.index() + ".";
                DeviceBuffer qkv = mem.get(p + "qkv");
                long off = up.matrix(lw.attnQ(), qkv, 0);
                if (lw.attnK() != null) off = up.matrix(lw.attnK(), qkv, off);
                if (lw.attnV() != null) up.matrix(lw.attnV(), qkv, off);
                DeviceBuffer gateUp = mem.get(p + "gate_up");
                up.matrix(lw.ffnUp(), gateUp, up.matrix(lw.ffnGate(), gateUp, 0));
                DeviceBuffer inpGate = null, proj = null, postNorm = null;
                if (lw.inpGate() != null) {
                    inpGate = mem.get(p + "inp_gate");
                    up.matrix(lw.inpGate(), inpGate, 0);
                    proj = mem.get(p + "proj");
                    up.matrix(lw.proj(), proj, 0);
                    postNorm = up.floats(lw.postNorm(), mem.get(p + "post_norm"));
                }
                Moe moe = null;
                if (lw.hasMoe()) {
                    LayerWeights.Moe m = lw.moe();
                    float[] scale = new float[c.nEmbd()];
                    float inv = 1f / (float) Math.sqrt(c.nEmbd());
                    for (int i = 0; i < scale.length; i++) scale[i] = inv * m.gateInpScale()[i];
                    DeviceBuffer gu = mem.get(p + "gate_up_exps");
                    up.matrix(m.gateUpExps() != null ? m.gateUpExps() : m.gateExps(), gu, 0);
                    DeviceBuffer upExps = null;
                    if (m.gateUpExps() == null) {
                        upExps = mem.get(p + "up_exps");
                        up.matrix(m.upExps(), upExps, 0);
                    }
                    DeviceBuffer downExps = mem.get(p + "down_exps");
                    up.matrix(m.downExps(), downExps, 0);
                    moe = new Moe(up.floats(scale, mem.get(p + "router_scale")), up.matrixF32(m.gateInp(), mem.get(p + "gate_inp")),
                            up.floats(m.preFfwNorm2(), mem.get(p + "pre_ffw_norm_2")),
                            up.floats(m.postFfwNorm1(), mem.get(p + "post_ffw_norm_1")),
                            up.floats(m.postFfwNorm2(), mem.get(p + "post_ffw_norm_2")), gu, upExps, downExps);
                }
                DeviceBuffer attnOut = mem.get(p + "attn_output");
                up.matrix(lw.attnOutput(), attnOut, 0);
                DeviceBuffer down = mem.get(p + "down");
                up.matrix(lw.ffnDown(), down, 0);
                layers.add(new Layer(up.floats(lw.attnNorm(), mem.get(p + "attn_norm")), qkv, qkvRows(lw),
                        up.floats(lw.attnQNorm(), mem.get(p + "q_norm")),
                        lw.attnKNorm() == null ? null : up.floats(lw.attnKNorm(), mem.get(p + "k_norm")),
                        attnOut, up.floats(lw.postAttentionNorm(), mem.get(p + "post_attention_norm")),
                        up.floats(lw.ffnNorm(), mem.get(p + "ffn_norm")), gateUp, down,
                        up.floats(lw.postFfwNorm(), mem.get(p + "post_ffw_norm")), inpGate, proj, postNorm, moe));
            }
            device.synchronize();
            log.accept(String.format("uploaded %.2f GiB of weights in %.1f s", plan.totalBytes() / (double) (1L << 30),
                    (System.nanoTime() - t0) / 1e9));
            return new CudaGemmaWeights(mem, te, ple, pleProj, pleNorm, outNorm, rope, head, layers);
        } catch (RuntimeException e) {
            mem.close();
            throw e;
        }
    }

    /** Output rows of the fused Q|K|V matrix of a layer. */
    static int qkvRows(LayerWeights lw) {
        int n = lw.attnQ().rows();
        if (lw.attnK() != null) n += lw.attnK().rows();
        if (lw.attnV() != null) n += lw.attnV().rows();
        return n;
    }

    @Override
    public void close() { memory.close(); }

    /** Copies tensors to the GPU, converting to bf16 on the GPU where it can and on the host otherwise. */
    private static final class Uploader implements AutoCloseable {
        private static final long HOST_CHUNK_ELEMENTS = 1 << 22;
        private final CudaDevice device;
        private final CudaKernels kernels;
        private DeviceBuffer staging;

        Uploader(CudaDevice device, CudaKernels kernels) {
            this.device = device;
            this.kernels = kernels;
        }

        DeviceBuffer floats(float[] v, DeviceBuffer dst) {
            device.copyToDevice(v, dst);
            return dst;
        }

        /** A get_rows table: the stored bytes when the GPU reads the type, else bf16. */
        Table table(WeightTensor t, DeviceBuffer dst) {
            if (gpuReadable(t.type()) && t.outputScales() == null) {
                device.copyToDevice(t.data().asSlice(0, (long) t.rows() * t.rowBytes()), dst);
                return new Table(dst, t.type());
            }
            matrix(t, dst, 0);
            return new Table(dst, GgmlType.BF16);
        }

        /** Writes t as bf16 at byte {@code offset} of dst; returns the offset after it. */
        long matrix(WeightTensor t, DeviceBuffer dst, long offset) {
            long n = elements(t);
            DeviceBuffer out = dst.slice(offset, 2 * n);
            long raw = (long) t.rows() * t.matrices() * t.rowBytes();
            if (t.type() == GgmlType.BF16 && t.outputScales() == null) {
                device.copyToDevice(t.data().asSlice(0, raw), out);
            } else if (gpuReadable(t.type())) {
                if (staging == null || staging.bytes() < raw) {
                    if (staging != null) {
                        device.synchronize();
                        device.free(staging);
                    }
                    staging = device.allocate(raw);
                }
                device.synchronize(); // the previous dequantize may still read the staging buffer
                device.copyToDevice(t.data().asSlice(0, raw), staging.slice(0, raw));
                long perMatrix = (long) t.rows() * t.cols(), perMatrixBytes = (long) t.rows() * t.rowBytes();
                for (int m = 0; m < t.matrices(); m++) {
                    kernels.dequantize(device.defaultStream(), staging.slice(m * perMatrixBytes, perMatrixBytes), t.type(),
                            perMatrix, out.slice(2 * m * perMatrix, 2 * perMatrix), true, t.outputScale(m));
                }
            } else {
                hostDecode(t, out);
            }
            return offset + 2 * n;
        }

        /** Writes t as float32 (a router matrix): its bytes when F32, else dequantized on the GPU or the host. */
        DeviceBuffer matrixF32(WeightTensor t, DeviceBuffer dst) {
            long n = elements(t);
            long raw = (long) t.rows() * t.matrices() * t.rowBytes();
            if (t.type() == GgmlType.F32 && t.outputScales() == null) {
                device.copyToDevice(t.data().asSlice(0, raw), dst.slice(0, 4 * n));
            } else if (gpuReadable(t.type())) {
                DeviceBuffer tmp = device.allocate(raw);
                try {
                    device.copyToDevice(t.data().asSlice(0, raw), tmp);
                    long perMatrix = (long) t.rows() * t.cols(), perMatrixBytes = (long) t.rows() * t.rowBytes();
                    for (int m = 0; m < t.matrices(); m++) {
                        kernels.dequantize(device.defaultStream(), tmp.slice(m * perMatrixBytes, perMatrixBytes), t.type(),
                                perMatrix, dst.slice(4 * m * perMatrix, 4 * perMatrix), false, t.outputScale(m));
                    }
                    device.synchronize();
                } finally {
                    device.free(tmp);
                }
            } else {
                BlockCodec codec = BlockCodec.of(t.type());
                float[] all = new float[(int) n];
                for (int m = 0; m < t.matrices(); m++) {
                    for (int r = 0; r < t.rows(); r++) {
                        int o = (m * t.rows() + r) * t.cols();
                        codec.decode(t.data(), t.rowOffset(m, r), all, o, t.cols());
                        float s = t.outputScale(m);
                        if (s != 1f) for (int j = 0; j < t.cols(); j++) all[o + j] *= s;
                    }
                }
                device.copyToDevice(all, dst.slice(0, 4 * n));
            }
            return dst;
        }

        /** Decodes row by row with the formats codecs, applies output scales, rounds to bf16, uploads in chunks. */
        private void hostDecode(WeightTensor t, DeviceBuffer out) {
            BlockCodec codec = BlockCodec.of(t.type());
            int cols = t.cols();
            int rowsPerChunk = (int) Math.max(1, HOST_CHUNK_ELEMENTS / cols);
            float[] row = new float[cols];
            try (Arena a = Arena.ofConfined()) {
                MemorySegment host = a.allocate(2L * rowsPerChunk * cols, 16);
                long dstOff = 0;
                for (int m = 0; m < t.matrices(); m++) {
                    float s = t.outputScale(m);
                    for (int r0 = 0; r0 < t.rows(); r0 += rowsPerChunk) {
                        int nr = Math.min(rowsPerChunk, t.rows() - r0);
                        for (int r = 0; r < nr; r++) {
                            codec.decode(t.data(), t.rowOffset(m, r0 + r), row, 0, cols);
                            long base = (long) r * cols;
                            for (int j = 0; j < cols; j++) {
                                host.setAtIndex(ValueLayout.JAVA_SHORT, base + j, BFloat16.fromFloat(s == 1f ? row[j] : row[j] * s));
                            }
                        }
                        long bytes = 2L * nr * cols;
                        device.copyToDevice(host.asSlice(0, bytes), out.slice(dstOff, bytes));
                        dstOff += bytes;
                    }
                }
            }
        }

        @Override
        public void close() {
            if (staging != null) {
                device.synchronize();
                device.free(staging);
            }
        }
    }
}
