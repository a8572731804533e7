package dev.requant.runtime.cuda;

import dev.requant.cuda.CudaDevice;
import dev.requant.cuda.CudaException;
import dev.requant.cuda.CudaKernels;
import dev.requant.cuda.CudaWorkspace;
import dev.requant.cuda.DeviceBuffer;
import dev.requant.cuda.StagedUpload;
import dev.requant.cuda.WorkspaceLayout;
import dev.requant.formats.ggml.BFloat16;
import dev.requant.formats.ggml.BlockCodec;
import dev.requant.formats.ggml.GgmlType;
import dev.requant.formats.model.GemmaConfig;
import dev.requant.formats.model.LayerConfig;
import dev.requant.runtime.GpuWeights;
import dev.requant.runtime.model.GemmaWeights;
import dev.requant.runtime.model.LayerWeights;
import dev.requant.runtime.model.WeightTensor;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.ArrayList;
import java.util.List;
import java.util.function.Consumer;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * A Gemma model's weights on one GPU, uploaded once into a single allocation: every matrix as bf16 (the cuBLAS GEMM
 * operand), with the matrices that share an input fused ({@code attn_q|attn_k|attn_v} and {@code ffn_gate|ffn_up},
 * rows stacked), norms and RoPE factors as float32, the embedding tables in their stored type when the
 * {@code get_rows} kernel reads it (an exact lookup) or else as bf16, and, for sessions that compute logits, the LM
 * head as bf16 (the token embedding table itself when the head is tied and stored in BF16).
 *
 * <p>Conversion to bf16 happens on the GPU for the types the {@code dequantize} kernel reads
 * ({@link CudaKernels#reads}: every weight type of ggml.h but Q8_1 and Q8_K, which are activation types; the raw
 * bytes go through a staging buffer, each matrix times its output scale): every value exactly as ggml's
 * {@code dequantize_row_*} gives it, then rounded to bf16. Other types are decoded on the host with the formats
 * module's codecs, times their output scales, and rounded to bf16 there.
 *
 * <p>With {@code splitWeights}, a dense matrix whose values bf16 does not hold exactly (every type but BF16, MXFP4
 * and NVFP4 without output scales: a Q8_0 value q·d needs up to 18 significant bits) also gets its low half,
 * {@code lo = bf16(w - bf16(w))}, in a second buffer ({@link #low}); the session adds the product with it, so the
 * GPU's weights are the exact dequantized ones to about 2^-16. Experts of mixture-of-experts layers have no low half.
 * The halves are left out when weights and halves together would take more than 80% of the GPU's free memory.
 */
final class CudaGemmaWeights implements AutoCloseable {
    private static final Logger LOG = LoggerFactory.getLogger(CudaGemmaWeights.class);
    /** A table for {@code get_rows}: its bytes on the GPU and the GGML type they are in. */
    record Table(DeviceBuffer data, GgmlType type) {}

    /**
     * One layer's device tensors; null where the layer has none. {@code lows} maps a matrix's address to its low bf16
     * half (see {@link #low}).
     */
    record Layer(DeviceBuffer attnNorm, DeviceBuffer qkv, int qkvRows, DeviceBuffer qNorm, DeviceBuffer kNorm,
                 DeviceBuffer attnOutput, DeviceBuffer postAttentionNorm, DeviceBuffer ffnNorm, DeviceBuffer gateUp,
                 DeviceBuffer down, DeviceBuffer postFfwNorm, DeviceBuffer inpGate, DeviceBuffer proj,
                 DeviceBuffer postNorm, Moe moe, java.util.Map<Long, DeviceBuffer> lows) {
        Layer {
            lows = java.util.Map.copyOf(lows);
        }

        /** The same layer with {@code lows} as its low halves. */
        Layer withLows(java.util.Map<Long, DeviceBuffer> l) {
            return new Layer(attnNorm, qkv, qkvRows, qNorm, kNorm, attnOutput, postAttentionNorm, ffnNorm, gateUp, down,
                    postFfwNorm, inpGate, proj, postNorm, moe, l);
        }

        /** The low bf16 half of this layer's matrix {@code hi}, or null. */
        DeviceBuffer low(DeviceBuffer hi) { return lows.get(hi.address()); }

        /** The same layer with every tensor {@code delta} bytes further on (a streamed layer in another upload buffer). */
        Layer rebased(long delta) {
            java.util.Map<Long, DeviceBuffer> l = new java.util.HashMap<>();
            for (var e : lows.entrySet()) l.put(e.getKey() + delta, at(e.getValue(), delta));
            return new Layer(at(attnNorm, delta), at(qkv, delta), qkvRows, at(qNorm, delta), at(kNorm, delta),
                    at(attnOutput, delta), at(postAttentionNorm, delta), at(ffnNorm, delta), at(gateUp, delta),
                    at(down, delta), at(postFfwNorm, delta), at(inpGate, delta), at(proj, delta), at(postNorm, delta),
                    moe == null ? null : moe.rebased(delta), l);
        }
    }

    private static DeviceBuffer at(DeviceBuffer b, long delta) {
        return b == null ? null : new DeviceBuffer(b.address() + delta, b.bytes());
    }

    /**
     * A Gemma 4 mixture-of-experts block: the router's folded input scale ({@code ffn_gate_inp.scale / sqrt(n_embd)})
     * and matrix in float32 (the top-k choice is sensitive to it), the norms, and the stacked expert matrices in bf16
     * with their per-expert output scales applied: {@code gateUp} holds each expert's gate rows then up rows, or only
     * the gate rows when {@code up} is separate.
     */
    record Moe(DeviceBuffer routerScale, DeviceBuffer gateInp, DeviceBuffer preFfwNorm2, DeviceBuffer postFfwNorm1,
               DeviceBuffer postFfwNorm2, DeviceBuffer gateUp, DeviceBuffer up, DeviceBuffer down) {
        Moe rebased(long delta) {
            return new Moe(at(routerScale, delta), at(gateInp, delta), at(preFfwNorm2, delta), at(postFfwNorm1, delta),
                    at(postFfwNorm2, delta), at(gateUp, delta), at(up, delta), at(down, delta));
        }
    }

    private final CudaWorkspace memory;
    private final CudaDevice device;
    private final CudaKernels kernels;
    /** The low bf16 halves of inexact non-layer matrices (LM head, per-layer projection), by the address of their high half. */
    private final java.util.Map<Long, DeviceBuffer> lows;
    /** Whether inexact matrices get low halves (see {@link #replace}). */
    private final boolean split;
    /** Where each matrix that {@link #replace} can overwrite sits, by tensor name. */
    private final java.util.Map<String, Slot> slots;
    /** Low halves allocated by {@link #replace} for regions planned without one, by the region's address. */
    private final java.util.Map<Long, ScratchLow> scratchLows = new java.util.HashMap<>();
    /** Converts replacement matrices; opened by the first {@link #replace}. */
    private Uploader replacer;
    final Table tokenEmbd;
    final Table perLayerTokenEmbd;
    final DeviceBuffer perLayerModelProj;
    final DeviceBuffer perLayerProjNorm;
    final DeviceBuffer outputNorm;
    final DeviceBuffer ropeFreqs;
    /** The LM head as bf16 [n_vocab x n_embd], or null when not uploaded. */
    final DeviceBuffer output;
    /** Resident layers by index; null for a streamed layer (see {@link #layer}). */
    private final Layer[] layers;
    /** The streamed layers' upload pipeline, or null when every layer is resident. */
    final LayerStream stream;
    final WeightPlacement placement;
    /** GPU bytes of the weights (resident tensors and upload buffers). */
    final long bytes;

    private CudaGemmaWeights(CudaDevice device, CudaKernels kernels, CudaWorkspace memory, Table tokenEmbd, Table perLayerTokenEmbd,
                             DeviceBuffer perLayerModelProj, DeviceBuffer perLayerProjNorm, DeviceBuffer outputNorm, DeviceBuffer ropeFreqs,
                             DeviceBuffer output, List<Layer> layers, java.util.Map<Long, DeviceBuffer> lows,
                             LayerStream stream, WeightPlacement placement, boolean split, java.util.Map<String, Slot> slots) {
        this.device = device;
        this.kernels = kernels;
        this.memory = memory;
        this.lows = new java.util.HashMap<>(lows);
        this.split = split;
        this.slots = java.util.Map.copyOf(slots);
        this.tokenEmbd = tokenEmbd;
        this.perLayerTokenEmbd = perLayerTokenEmbd;
        this.perLayerModelProj = perLayerModelProj;
        this.perLayerProjNorm = perLayerProjNorm;
        this.outputNorm = outputNorm;
        this.ropeFreqs = ropeFreqs;
        this.output = output;
        this.layers = layers.toArray(new Layer[0]);
        this.stream = stream;
        this.placement = placement;
        this.bytes = placement.deviceBytes();
    }

    /** Whether {@code get_rows} and {@code dequantize} read this type on the GPU. */
    static boolean gpuReadable(GgmlType t) { return CudaKernels.reads(t); }

    /** The low bf16 half of the non-layer matrix whose high half is {@code hi} (a whole matrix buffer), or null. */
    DeviceBuffer low(DeviceBuffer hi) { return lows.get(hi.address()); }

    /** A resident layer's tensors (a streamed layer's come from {@link LayerStream#acquire}). */
    Layer layer(int index) {
        Layer l = layers[index];
        if (l == null) throw new IllegalStateException("layer " + index + " is streamed");
        return l;
    }

    /** Whether bf16 holds every value of the tensor exactly (then a low half would be zero). */
    static boolean exactInBf16(WeightTensor t) {
        if (t.outputScales() != null) return false;
        return switch (t.type()) {
            case BF16, MXFP4, NVFP4 -> true; // E2M1 times a power of two or a 3-bit-mantissa UE4M3: at most 6 bits
            default -> false;
        };
    }

    /** Whether the token embedding table, as uploaded, is the tied LM head's bf16 matrix too. */
    private static boolean tiedBf16(GemmaWeights w) {
        WeightTensor t = w.tokenEmbd();
        return w.output() == t && t.type() == GgmlType.BF16 && t.outputScales() == null;
    }

    private static long elements(WeightTensor t) { return (long) t.cols() * t.rows() * t.matrices(); }

    private static long tableBytes(WeightTensor t) {
        return gpuReadable(t.type()) && t.outputScales() == null ? (long) t.rows() * t.rowBytes() : elements(t) * 2;
    }

    /** The GPU regions of the weights: the non-layer tensors, and each layer's (region names without "blk.N."). */
    private record Plan(WorkspaceLayout global, List<WorkspaceLayout> layers) {
        long totalBytes() { return global.totalBytes() + layers.stream().mapToLong(WorkspaceLayout::totalBytes).sum(); }

        long[] layerBytes() { return layers.stream().mapToLong(WorkspaceLayout::totalBytes).toArray(); }

        /** One allocation: the non-layer tensors and the resident layers' (named "blk.N." + region). */
        WorkspaceLayout resident(WeightPlacement p) {
            WorkspaceLayout all = new WorkspaceLayout();
            for (WorkspaceLayout.Region r : global.regions().values()) all.add(r.name(), r.bytes());
            for (int i = 0; i < layers.size(); i++) {
                if (p.streams(i)) continue;
                for (WorkspaceLayout.Region r : layers.get(i).regions().values()) all.add("blk." + i + "." + r.name(), r.bytes());
            }
            return all;
        }
    }

    /** Named device regions: of the one resident allocation, or of an upload buffer holding one layer. */
    private interface Regions {
        DeviceBuffer get(String name);

        boolean has(String name);

        static Regions of(CudaWorkspace mem, String prefix) {
            return new Regions() {
                public DeviceBuffer get(String name) { return mem.get(prefix + name); }

                public boolean has(String name) { return mem.layout().regions().containsKey(prefix + name); }
            };
        }

        static Regions of(DeviceBuffer base, WorkspaceLayout layout) {
            return new Regions() {
                public DeviceBuffer get(String name) {
                    WorkspaceLayout.Region r = layout.region(name);
                    return base.slice(r.offset(), r.bytes());
                }

                public boolean has(String name) { return layout.regions().containsKey(name); }
            };
        }
    }

    /**
     * Plans, allocates and uploads; {@code log} hears one line per phase.
     *
     * @param lmHead whether the LM head is needed (sessions that compute logits)
     * @param mode where the layers go (see {@link WeightPlacement})
     * @param reserveBytes GPU memory to leave free beside the weights (score buffers allocated later)
     * @param budget the placement sees at most this many bytes free for the weights (tests; Long.MAX_VALUE)
     */
    static CudaGemmaWeights upload(CudaDevice device, CudaKernels kernels, GemmaConfig c, GemmaWeights w, boolean lmHead,
                                   boolean splitWeights, GpuWeights mode, long reserveBytes, long budget, Consumer<String> log) {
        Plan plan = plan(c, w, lmHead, splitWeights);
        long free = device.memoryInfo()[0];
        if (splitWeights && plan.totalBytes() > 0.8 * free) {
            Plan without = plan(c, w, lmHead, false);
            log.accept(String.format("weights with their low bf16 halves take %.1f GiB of %.1f GiB free: using bf16 weights alone (%.1f GiB)",
                    plan.totalBytes() / (double) (1L << 30), free / (double) (1L << 30), without.totalBytes() / (double) (1L << 30)));
            plan = without;
            splitWeights = false;
        }
        WeightPlacement place;
        try {
            long reserve = reserveBytes + stagingBytes(c, w);
            long seen = budget == Long.MAX_VALUE ? free : Math.min(free, budget + reserve);
            place = WeightPlacement.plan(mode, plan.global().totalBytes(), plan.layerBytes(), seen, reserve);
        } catch (IllegalStateException e) {
            throw new CudaException(e.getMessage());
        }
        // placement and upload are remarks, not warnings: the log (stderr as "requant: ...", the queue's step log)
        if (place.streamedCount() > 0) LOG.info(place.describe());
        return upload(device, kernels, c, w, lmHead, plan, place, splitWeights, log);
    }

    /**
     * GPU memory the upload borrows for a while: the raw bytes of the largest matrix dequantized on the GPU (BF16
     * matrices are copied in place) and the float32 buffer of the low-half split.
     */
    private static long stagingBytes(GemmaConfig c, GemmaWeights w) {
        List<WeightTensor> all = new ArrayList<>();
        for (LayerConfig lc : c.layers()) {
            LayerWeights lw = w.layer(lc.index());
            all.addAll(java.util.Arrays.asList(lw.attnQ(), lw.attnK(), lw.attnV(), lw.attnOutput(), lw.ffnGate(), lw.ffnUp(),
                    lw.ffnDown(), lw.inpGate(), lw.proj()));
            if (lw.hasMoe()) {
                LayerWeights.Moe m = lw.moe();
                all.addAll(java.util.Arrays.asList(m.gateUpExps(), m.gateExps(), m.upExps(), m.downExps(), m.gateInp()));
            }
        }
        all.add(w.output());
        all.add(w.perLayerModelProj());
        long raw = 0;
        for (WeightTensor t : all) {
            if (t == null || !gpuReadable(t.type()) || t.type() == GgmlType.BF16 && t.outputScales() == null) continue;
            raw = Math.max(raw, (long) t.rows() * t.matrices() * t.rowBytes());
        }
        return raw + 4L * Uploader.SPLIT_CHUNK_ELEMENTS;
    }

    /** The low half's name of a planned matrix when its sources are not exact in bf16 (and halves are wanted). */
    private static void lowHalf(WorkspaceLayout plan, boolean split, String name, long bytes, WeightTensor... sources) {
        if (!split) return;
        for (WeightTensor t : sources) {
            if (t != null && !exactInBf16(t)) {
                plan.add(name + ".lo", bytes);
                return;
            }
        }
    }

    private static Plan plan(GemmaConfig c, GemmaWeights w, boolean lmHead, boolean split) {
        WorkspaceLayout plan = new WorkspaceLayout();
        plan.add("token_embd", tableBytes(w.tokenEmbd()));
        boolean ownHead = lmHead && !tiedBf16(w);
        if (ownHead) {
            plan.add("output", 2 * elements(w.output()));
            lowHalf(plan, split, "output", 2 * elements(w.output()), w.output());
        }
        plan.floats("output_norm", c.nEmbd());
        if (w.ropeFreqs() != null) plan.floats("rope_freqs", w.ropeFreqs().length);
        if (c.hasPerLayerInputs()) {
            plan.add("per_layer_token_embd", tableBytes(w.perLayerTokenEmbd()));
            plan.add("per_layer_model_proj", 2 * elements(w.perLayerModelProj()));
            lowHalf(plan, split, "per_layer_model_proj", 2 * elements(w.perLayerModelProj()), w.perLayerModelProj());
            plan.floats("per_layer_proj_norm", w.perLayerProjNorm().length);
        }
        List<WorkspaceLayout> layers = new ArrayList<>();
        for (LayerConfig lc : c.layers()) layers.add(layerPlan(c, w.layer(lc.index()), split));
        return new Plan(plan, layers);
    }

    /** One layer's regions, in upload order. */
    private static WorkspaceLayout layerPlan(GemmaConfig c, LayerWeights lw, boolean split) {
        WorkspaceLayout plan = new WorkspaceLayout();
        plan.floats("attn_norm", c.nEmbd());
        plan.add("qkv", 2L * c.nEmbd() * qkvRows(lw));
        lowHalf(plan, split, "qkv", 2L * c.nEmbd() * qkvRows(lw), lw.attnQ(), lw.attnK(), lw.attnV());
        plan.floats("q_norm", lw.attnQNorm().length);
        if (lw.attnKNorm() != null) plan.floats("k_norm", lw.attnKNorm().length);
        plan.add("attn_output", 2 * elements(lw.attnOutput()));
        lowHalf(plan, split, "attn_output", 2 * elements(lw.attnOutput()), lw.attnOutput());
        plan.floats("post_attention_norm", c.nEmbd());
        plan.floats("ffn_norm", c.nEmbd());
        plan.add("gate_up", 2 * (elements(lw.ffnGate()) + elements(lw.ffnUp())));
        lowHalf(plan, split, "gate_up", 2 * (elements(lw.ffnGate()) + elements(lw.ffnUp())), lw.ffnGate(), lw.ffnUp());
        plan.add("down", 2 * elements(lw.ffnDown()));
        lowHalf(plan, split, "down", 2 * elements(lw.ffnDown()), lw.ffnDown());
        plan.floats("post_ffw_norm", c.nEmbd());
        if (lw.inpGate() != null) {
            plan.add("inp_gate", 2 * elements(lw.inpGate()));
            lowHalf(plan, split, "inp_gate", 2 * elements(lw.inpGate()), lw.inpGate());
            plan.add("proj", 2 * elements(lw.proj()));
            lowHalf(plan, split, "proj", 2 * elements(lw.proj()), lw.proj());
            plan.floats("post_norm", c.nEmbd());
        }
        if (lw.hasMoe()) {
            LayerWeights.Moe m = lw.moe();
            plan.floats("router_scale", c.nEmbd()).floats("gate_inp", elements(m.gateInp()))
                    .floats("pre_ffw_norm_2", c.nEmbd()).floats("post_ffw_norm_1", c.nEmbd())
                    .floats("post_ffw_norm_2", c.nEmbd())
                    .add("gate_up_exps", 2 * elements(m.gateUpExps() != null ? m.gateUpExps() : m.gateExps()))
                    .add("up_exps", m.gateUpExps() != null ? 0 : 2 * elements(m.upExps()))
                    .add("down_exps", 2 * elements(m.downExps()));
        }
        return plan;
    }

    private static CudaGemmaWeights upload(CudaDevice device, CudaKernels kernels, GemmaConfig c, GemmaWeights w,
                                           boolean lmHead, Plan plan, WeightPlacement place, boolean split, Consumer<String> log) {
        boolean ownHead = lmHead && !tiedBf16(w);
        WorkspaceLayout resident = plan.resident(place);
        CudaWorkspace mem = CudaWorkspace.allocate(device, resident);
        LayerStream stream = null;
        long t0 = System.nanoTime();
        try (Uploader up = new Uploader(device, kernels)) {
            Regions g = Regions.of(mem, "");
            java.util.Map<Long, DeviceBuffer> globalLows = new java.util.HashMap<>();
            Table te = up.table(w.tokenEmbd(), mem.get("token_embd"));
            DeviceBuffer head = null;
            if (ownHead) {
                head = mem.get("output");
                up.matrix(w.output(), head, 0, up.lowOf(head, g, "output", globalLows));
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
                up.matrix(w.perLayerModelProj(), pleProj, 0, up.lowOf(pleProj, g, "per_layer_model_proj", globalLows));
                pleNorm = up.floats(w.perLayerProjNorm(), mem.get("per_layer_proj_norm"));
            }
            if (place.slots() > 0) stream = new LayerStream(device, place);
            List<Layer> layers = new ArrayList<>();
            for (LayerConfig lc : c.layers()) {
                int i = lc.index();
                if (!place.streams(i)) {
                    layers.add(uploadLayer(up, Regions.of(mem, "blk." + i + "."), c, w.layer(i)));
                    continue;
                }
                // converted in the first upload buffer as a resident layer would be, then kept in pinned host memory
                WorkspaceLayout lp = plan.layers().get(i);
                DeviceBuffer slot0 = stream.slot(0);
                Layer l = uploadLayer(up, Regions.of(slot0, lp), c, w.layer(i));
                device.synchronize();
                stream.add(i, l, slot0.slice(0, lp.totalBytes()));
                layers.add(null);
            }
            device.synchronize();
            LOG.info(String.format("uploaded %.2f GiB of weights%s in %.1f s%s", resident.totalBytes() / (double) (1L << 30),
                    up.lowCount == 0 ? "" : " (" + up.lowCount + " matrices with low bf16 halves)", (System.nanoTime() - t0) / 1e9,
                    place.streamedCount() == 0 ? "" : String.format(", %.2f GiB of layers in pinned host memory",
                            place.hostBytes() / (double) (1L << 30))));
            return new CudaGemmaWeights(device, kernels, mem, te, ple, pleProj, pleNorm, outNorm, rope, head, layers, globalLows, stream,
                    place, split, slots(c, w, ownHead));
        } catch (RuntimeException e) {
            if (stream != null) stream.close();
            mem.close();
            throw e;
        }
    }

    /**
     * Where a matrix sits: in layer {@code layer}'s region (or a non-layer region when {@code layer} is -1) at byte
     * {@code offset}, fused with others when the region holds several ({@code qkv}, {@code gate_up}).
     */
    private record Slot(int layer, String region, long offset, WeightTensor uploaded) {}

    /**
     * The matrices {@link #replace} can overwrite: every dense layer matrix, the LM head when it has its own bf16
     * copy, and the per-layer projection. Not the embedding tables (a {@code get_rows} table keeps its stored type)
     * nor expert stacks.
     */
    private static java.util.Map<String, Slot> slots(GemmaConfig c, GemmaWeights w, boolean ownHead) {
        java.util.Map<String, Slot> m = new java.util.HashMap<>();
        for (LayerConfig lc : c.layers()) {
            int i = lc.index();
            LayerWeights lw = w.layer(i);
            long off = 0;
            for (WeightTensor t : new WeightTensor[] {lw.attnQ(), lw.attnK(), lw.attnV()}) {
                if (t == null) continue;
                m.put(t.name(), new Slot(i, "qkv", off, t));
                off += 2 * elements(t);
            }
            m.put(lw.attnOutput().name(), new Slot(i, "attn_output", 0, lw.attnOutput()));
            m.put(lw.ffnGate().name(), new Slot(i, "gate_up", 0, lw.ffnGate()));
            m.put(lw.ffnUp().name(), new Slot(i, "gate_up", 2 * elements(lw.ffnGate()), lw.ffnUp()));
            m.put(lw.ffnDown().name(), new Slot(i, "down", 0, lw.ffnDown()));
            if (lw.inpGate() != null) {
                m.put(lw.inpGate().name(), new Slot(i, "inp_gate", 0, lw.inpGate()));
                m.put(lw.proj().name(), new Slot(i, "proj", 0, lw.proj()));
            }
        }
        // a head tied to a table that is not bf16 is uploaded twice (table and head): replacing one would leave the other
        if (ownHead && w.output() != w.tokenEmbd()) m.put(w.output().name(), new Slot(-1, "output", 0, w.output()));
        if (c.hasPerLayerInputs()) {
            m.put(w.perLayerModelProj().name(), new Slot(-1, "per_layer_model_proj", 0, w.perLayerModelProj()));
        }
        return m;
    }

    /** The device region of a slot as it stands (a resident layer's, or a non-layer one). */
    private DeviceBuffer region(Slot s) {
        if (s.layer() < 0) return s.region().equals("output") ? output : perLayerModelProj;
        Layer l = layers[s.layer()];
        return switch (s.region()) {
            case "qkv" -> l.qkv();
            case "attn_output" -> l.attnOutput();
            case "gate_up" -> l.gateUp();
            case "down" -> l.down();
            case "inp_gate" -> l.inpGate();
            case "proj" -> l.proj();
            default -> throw new IllegalStateException(s.region());
        };
    }

    /** Whether {@link #replace} can put another tensor in the place of matrix {@code name}. */
    boolean replaceable(String name) {
        Slot s = slots.get(name);
        return s != null && (s.layer() < 0 || layers[s.layer()] != null);
    }

    /**
     * Writes {@code t} (another quantization of the same matrix: same shape, any type) over the uploaded matrix
     * {@code name}, converted as the upload converts it, so the session computes as one opened on the replaced weights
     * would. A region planned without a low half (every matrix in it exact in bf16) gets one while an inexact
     * replacement sits in it, freed when the last such matrix is replaced by an exact one again.
     *
     * @throws IllegalArgumentException for a matrix not {@link #replaceable} or of another shape
     */
    void replace(String name, WeightTensor t) {
        if (!replaceable(name)) throw new IllegalArgumentException(name + " cannot be replaced in place");
        Slot s = slots.get(name);
        WeightTensor u = s.uploaded();
        if (t.rows() != u.rows() || t.cols() != u.cols() || t.matrices() != u.matrices()) {
            throw new IllegalArgumentException(name + ": a replacement of " + t.matrices() + " x " + t.rows() + " x " + t.cols()
                    + " for " + u.matrices() + " x " + u.rows() + " x " + u.cols());
        }
        if (replacer == null) replacer = new Uploader(device, kernels);
        DeviceBuffer hi = region(s);
        DeviceBuffer planned = s.layer() < 0 ? lows.get(hi.address()) : layers[s.layer()].low(hi);
        ScratchLow scratch = scratchLows.get(hi.address());
        if (planned != null && scratch == null || !split) {
            // a planned low half, written (or zeroed) with the matrix; or none anywhere
            replacer.matrix(t, hi, s.offset(), planned);
        } else if (!exactInBf16(t)) {
            if (scratch == null) {
                scratch = new ScratchLow(device.allocate(hi.bytes()));
                device.zero(scratch.lo);
                scratchLows.put(hi.address(), scratch);
                setLow(s, hi, scratch.lo);
            }
            replacer.matrix(t, hi, s.offset(), scratch.lo);
            scratch.inexact.add(name);
        } else {
            replacer.matrix(t, hi, s.offset());
            if (scratch != null) {
                device.zero(scratch.lo.slice(s.offset(), 2 * elements(t)));
                scratch.inexact.remove(name);
                if (scratch.inexact.isEmpty()) {
                    setLow(s, hi, null);
                    device.synchronize();
                    device.free(scratch.lo);
                    scratchLows.remove(hi.address());
                }
            }
        }
        device.synchronize();
    }

    /** Registers (or with null, removes) the low half of a slot's region. */
    private void setLow(Slot s, DeviceBuffer hi, DeviceBuffer lo) {
        if (s.layer() < 0) {
            if (lo == null) lows.remove(hi.address()); else lows.put(hi.address(), lo);
            return;
        }
        Layer l = layers[s.layer()];
        java.util.Map<Long, DeviceBuffer> m = new java.util.HashMap<>(l.lows());
        if (lo == null) m.remove(hi.address()); else m.put(hi.address(), lo);
        layers[s.layer()] = l.withLows(m);
    }

    /** A low half allocated by {@link #replace}, and the matrices of its region that need it. */
    private static final class ScratchLow {
        final DeviceBuffer lo;
        final java.util.Set<String> inexact = new java.util.HashSet<>();

        ScratchLow(DeviceBuffer lo) { this.lo = lo; }
    }

    /** Uploads one layer's tensors into {@code r}; returns their device record. */
    private static Layer uploadLayer(Uploader up, Regions r, GemmaConfig c, LayerWeights lw) {
        java.util.Map<Long, DeviceBuffer> lows = new java.util.HashMap<>();
        DeviceBuffer qkv = r.get("qkv");
        DeviceBuffer qkvLo = up.lowOf(qkv, r, "qkv", lows);
        long off = up.matrix(lw.attnQ(), qkv, 0, qkvLo);
        if (lw.attnK() != null) off = up.matrix(lw.attnK(), qkv, off, qkvLo);
        if (lw.attnV() != null) up.matrix(lw.attnV(), qkv, off, qkvLo);
        DeviceBuffer gateUp = r.get("gate_up");
        DeviceBuffer guLo = up.lowOf(gateUp, r, "gate_up", lows);
        up.matrix(lw.ffnUp(), gateUp, up.matrix(lw.ffnGate(), gateUp, 0, guLo), guLo);
        DeviceBuffer inpGate = null, proj = null, postNorm = null;
        if (lw.inpGate() != null) {
            inpGate = r.get("inp_gate");
            up.matrix(lw.inpGate(), inpGate, 0, up.lowOf(inpGate, r, "inp_gate", lows));
            proj = r.get("proj");
            up.matrix(lw.proj(), proj, 0, up.lowOf(proj, r, "proj", lows));
            postNorm = up.floats(lw.postNorm(), r.get("post_norm"));
        }
        Moe moe = null;
        if (lw.hasMoe()) {
            LayerWeights.Moe m = lw.moe();
            float[] scale = new float[c.nEmbd()];
            float inv = 1f / (float) Math.sqrt(c.nEmbd());
            for (int i = 0; i < scale.length; i++) scale[i] = inv * m.gateInpScale()[i];
            DeviceBuffer gu = r.get("gate_up_exps");
            up.matrix(m.gateUpExps() != null ? m.gateUpExps() : m.gateExps(), gu, 0);
            DeviceBuffer upExps = null;
            if (m.gateUpExps() == null) {
                upExps = r.get("up_exps");
                up.matrix(m.upExps(), upExps, 0);
            }
            DeviceBuffer downExps = r.get("down_exps");
            up.matrix(m.downExps(), downExps, 0);
            moe = new Moe(up.floats(scale, r.get("router_scale")), up.matrixF32(m.gateInp(), r.get("gate_inp")),
                    up.floats(m.preFfwNorm2(), r.get("pre_ffw_norm_2")),
                    up.floats(m.postFfwNorm1(), r.get("post_ffw_norm_1")),
                    up.floats(m.postFfwNorm2(), r.get("post_ffw_norm_2")), gu, upExps, downExps);
        }
        DeviceBuffer attnOut = r.get("attn_output");
        up.matrix(lw.attnOutput(), attnOut, 0, up.lowOf(attnOut, r, "attn_output", lows));
        DeviceBuffer down = r.get("down");
        up.matrix(lw.ffnDown(), down, 0, up.lowOf(down, r, "down", lows));
        return new Layer(up.floats(lw.attnNorm(), r.get("attn_norm")), qkv, qkvRows(lw),
                up.floats(lw.attnQNorm(), r.get("q_norm")),
                lw.attnKNorm() == null ? null : up.floats(lw.attnKNorm(), r.get("k_norm")),
                attnOut, up.floats(lw.postAttentionNorm(), r.get("post_attention_norm")),
                up.floats(lw.ffnNorm(), r.get("ffn_norm")), gateUp, down,
                up.floats(lw.postFfwNorm(), r.get("post_ffw_norm")), inpGate, proj, postNorm, moe, lows);
    }

    /** Output rows of the fused Q|K|V matrix of a layer. */
    static int qkvRows(LayerWeights lw) {
        int n = lw.attnQ().rows();
        if (lw.attnK() != null) n += lw.attnK().rows();
        if (lw.attnV() != null) n += lw.attnV().rows();
        return n;
    }

    @Override
    public void close() {
        if (replacer != null) replacer.close();
        for (ScratchLow l : scratchLows.values()) device.free(l.lo);
        if (stream != null) stream.close();
        memory.close();
    }

    /** Copies tensors to the GPU, converting to bf16 on the GPU where it can and on the host otherwise. */
    private static final class Uploader implements AutoCloseable {
        private static final long HOST_CHUNK_ELEMENTS = 1 << 22;
        static final long SPLIT_CHUNK_ELEMENTS = 1L << 26;
        private final CudaDevice device;
        private final CudaKernels kernels;
        /** Matrices given a low half so far. */
        int lowCount;
        private DeviceBuffer staging, staging32;
        /** The page-locked route for mapped tensors, made at the first large copy (tiny models never need it). */
        private StagedUpload staged;

        Uploader(CudaDevice device, CudaKernels kernels) {
            this.device = device;
            this.kernels = kernels;
        }

        /** Copies a tensor's stored bytes to the device; kernels queued after it on the default stream see them. */
        private void upload(MemorySegment src, DeviceBuffer dst) {
            if (src.byteSize() < StagedUpload.DIRECT_BELOW || !src.isNative()) {
                device.copyToDevice(src, dst);
                return;
            }
            if (staged == null) staged = StagedUpload.defaults(device);
            staged.copy(src, dst);
        }

        /** The planned low half of matrix region {@code name} of {@code r} (registered in {@code lows} under its high half), or null. */
        private DeviceBuffer lowOf(DeviceBuffer hi, Regions r, String name, java.util.Map<Long, DeviceBuffer> lows) {
            if (!r.has(name + ".lo")) return null;
            DeviceBuffer lo = r.get(name + ".lo");
            lows.put(hi.address(), lo);
            lowCount++;
            return lo;
        }

        DeviceBuffer floats(float[] v, DeviceBuffer dst) {
            device.copyToDevice(v, dst);
            return dst;
        }

        /** A get_rows table: the stored bytes when the GPU reads the type, else bf16. */
        Table table(WeightTensor t, DeviceBuffer dst) {
            if (gpuReadable(t.type()) && t.outputScales() == null) {
                upload(t.data().asSlice(0, (long) t.rows() * t.rowBytes()), dst);
                return new Table(dst, t.type());
            }
            matrix(t, dst, 0);
            return new Table(dst, GgmlType.BF16);
        }

        /**
         * Writes t as bf16 at byte {@code offset} of dst and, when {@code lo} is given, the low halves
         * {@code bf16(w - bf16(w))} at the same offset of lo; returns the offset after it.
         */
        long matrix(WeightTensor t, DeviceBuffer dst, long offset, DeviceBuffer lo) {
            if (lo == null) return matrix(t, dst, offset);
            long n = elements(t);
            DeviceBuffer hi = dst.slice(offset, 2 * n), low = lo.slice(offset, 2 * n);
            if (exactInBf16(t)) {
                long end = matrix(t, dst, offset);
                device.zero(low);
                return end;
            }
            if (gpuReadable(t.type())) {
                long raw = (long) t.rows() * t.matrices() * t.rowBytes();
                stage(raw);
                upload(t.data().asSlice(0, raw), staging.slice(0, raw));
                int rowsPerChunk = (int) Math.max(1, SPLIT_CHUNK_ELEMENTS / t.cols());
                if (staging32 == null) staging32 = device.allocate(4L * Math.min((long) rowsPerChunk * t.cols(), Math.max(n, 1)));
                if (staging32.bytes() < 4L * Math.min((long) rowsPerChunk * t.cols(), n)) {
                    device.synchronize();
                    device.free(staging32);
                    staging32 = device.allocate(4L * Math.min((long) rowsPerChunk * t.cols(), n));
                }
                for (int m = 0; m < t.matrices(); m++) {
                    for (int r0 = 0; r0 < t.rows(); r0 += rowsPerChunk) {
                        int nr = Math.min(rowsPerChunk, t.rows() - r0);
                        long count = (long) nr * t.cols(), first = ((long) m * t.rows() + r0) * t.cols();
                        kernels.dequantize(device.defaultStream(), staging.slice(t.rowOffset(m, r0), nr * t.rowBytes()), t.type(),
                                count, staging32, false, t.outputScale(m));
                        kernels.f32ToBf16Split(device.defaultStream(), staging32, hi.slice(2 * first, 2 * count),
                                low.slice(2 * first, 2 * count), count);
                    }
                }
                device.synchronize();
            } else {
                hostDecode(t, hi, low);
            }
            return offset + 2 * n;
        }

        /** A staging buffer of at least {@code raw} bytes, once the GPU no longer reads the old one. */
        private void stage(long raw) {
            if (staging == null || staging.bytes() < raw) {
                if (staging != null) {
                    device.synchronize();
                    device.free(staging);
                }
                staging = device.allocate(raw);
            }
            device.synchronize();
        }

        /** Writes t as bf16 at byte {@code offset} of dst; returns the offset after it. */
        long matrix(WeightTensor t, DeviceBuffer dst, long offset) {
            long n = elements(t);
            DeviceBuffer out = dst.slice(offset, 2 * n);
            long raw = (long) t.rows() * t.matrices() * t.rowBytes();
            if (t.type() == GgmlType.BF16 && t.outputScales() == null) {
                upload(t.data().asSlice(0, raw), out);
            } else if (gpuReadable(t.type())) {
                if (staging == null || staging.bytes() < raw) {
                    if (staging != null) {
                        device.synchronize();
                        device.free(staging);
                    }
                    staging = device.allocate(raw);
                }
                device.synchronize(); // the previous dequantize may still read the staging buffer
                upload(t.data().asSlice(0, raw), staging.slice(0, raw));
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
        private void hostDecode(WeightTensor t, DeviceBuffer out) { hostDecode(t, out, null); }

        /**
         * As hostDecode, and the low bf16 halves into {@code low} when it is given. Rows decode in parallel (the common
         * fork-join pool): a type the GPU does not read (Q3_K, IQ3_S, IQ4_XS, ...) is decoded here on every upload, and
         * the mix's measurement swaps such matrices in hundreds of times.
         */
        private void hostDecode(WeightTensor t, DeviceBuffer out, DeviceBuffer low) {
            BlockCodec codec = BlockCodec.of(t.type());
            int cols = t.cols();
            int rowsPerChunk = (int) Math.max(1, HOST_CHUNK_ELEMENTS / cols);
            ThreadLocal<float[]> rows = ThreadLocal.withInitial(() -> new float[cols]);
            try (Arena a = Arena.ofShared()) {
                MemorySegment host = a.allocate(2L * rowsPerChunk * cols, 16);
                MemorySegment hostLo = low == null ? null : a.allocate(2L * rowsPerChunk * cols, 16);
                long dstOff = 0;
                for (int m = 0; m < t.matrices(); m++) {
                    float s = t.outputScale(m);
                    int matrix = m;
                    for (int r0 = 0; r0 < t.rows(); r0 += rowsPerChunk) {
                        int nr = Math.min(rowsPerChunk, t.rows() - r0), first = r0;
                        java.util.stream.IntStream.range(0, nr).parallel().forEach(r -> {
                            float[] row = rows.get();
                            codec.decode(t.data(), t.rowOffset(matrix, first + r), row, 0, cols);
                            long base = (long) r * cols;
                            for (int j = 0; j < cols; j++) {
                                float v = s == 1f ? row[j] : row[j] * s;
                                short h = BFloat16.fromFloat(v);
                                host.setAtIndex(ValueLayout.JAVA_SHORT, base + j, h);
                                if (hostLo != null) hostLo.setAtIndex(ValueLayout.JAVA_SHORT, base + j, BFloat16.fromFloat(v - BFloat16.toFloat(h)));
                            }
                        });
                        long bytes = 2L * nr * cols;
                        device.copyToDevice(host.asSlice(0, bytes), out.slice(dstOff, bytes));
                        if (hostLo != null) device.copyToDevice(hostLo.asSlice(0, bytes), low.slice(dstOff, bytes));
                        dstOff += bytes;
                    }
                }
            }
        }

        @Override
        public void close() {
            device.synchronize();
            if (staged != null) staged.close();
            if (staging != null) device.free(staging);
            if (staging32 != null) device.free(staging32);
        }
    }
}
