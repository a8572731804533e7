package dev.requant.runtime.cuda;

import dev.requant.cuda.CudaDevice;
import dev.requant.cuda.CudaEvent;
import dev.requant.cuda.CudaGemm;
import dev.requant.cuda.CudaKernels;
import dev.requant.cuda.CudaStream;
import dev.requant.cuda.CudaUnavailableException;
import dev.requant.cuda.CudaWorkspace;
import dev.requant.cuda.DeviceBuffer;
import dev.requant.cuda.WorkspaceLayout;
import dev.requant.formats.imatrix.Imatrix;
import dev.requant.formats.imatrix.ImatrixAccumulator;
import dev.requant.formats.imatrix.ImatrixEntry;
import dev.requant.runtime.ForwardBatch;
import dev.requant.runtime.ForwardSession;
import dev.requant.runtime.GemmInputs;
import dev.requant.runtime.ImatrixObserver;
import dev.requant.runtime.SessionSpec;
import dev.requant.formats.model.GemmaArch;
import dev.requant.formats.model.GemmaConfig;
import dev.requant.runtime.model.GemmaWeights;
import dev.requant.formats.model.LayerConfig;
import dev.requant.runtime.model.LayerWeights;
import dev.requant.runtime.model.WeightTensor;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.function.Consumer;

/**
 * {@link ForwardSession} on an NVIDIA GPU: the Gemma 3 / Gemma 4 (dense, with per-layer inputs) forward pass of
 * {@code CpuSession}, batched over all sequences of a batch at once, with bf16 weight GEMMs through cuBLAS (float32
 * accumulation; float32 activations split into two bf16 halves by default, see {@link GemmInputs}), f16 attention
 * through cuBLAS strided-batched GEMMs around a causal softmax kernel. Activations never leave the GPU:
 * <ul>
 *   <li>imatrix: the Σx² of every collected matrix input accumulate on the GPU; the host keeps only the row counts.
 *       Sums are copied back only for {@link #collected}, and added there to the state the session started from.
 *       Matrices that share an input (Q/K/V; gate/up) share one GEMM and one set of sums, as their llama-imatrix
 *       entries are identical.</li>
 *   <li>eval: the output norm and the LM head run on the scored positions only; softcap and suppressed tokens on the
 *       GPU; then either per-row scores on the GPU ({@code score_base}/{@code score_kld}: only a few numbers per row
 *       come back) or the logits rows copied to a host sink.</li>
 * </ul>
 * Weights are uploaded once ({@link CudaGemmaWeights}); every activation buffer lives in one {@link CudaWorkspace}
 * sized for the largest batch, so running allocates nothing on the device.
 *
 * <p>Differences to the CPU pass are float rounding only: GEMM operands in bf16 (weights of other types are
 * dequantized exactly and then rounded to bf16), attention operands in f16 (llama.cpp's default KV cache type),
 * two-level column sums, GPU exponentials in the scores.
 */
public final class CudaSession implements ForwardSession {
    /** Scores of one attention slab are bounded by this many bytes (float32; the f16 probabilities take half). */
    private static final long SCORE_BYTES = 1L << 30;

    /** A set of sums on the GPU: the llama.cpp weight names that share them, their width and where they live. */
    private record Slot(List<String> names, int cols, long offset, int index) {}

    private final CudaDevice device;
    private final SessionSpec spec;
    private final CudaKernels kernels;
    private final CudaGemm gemm;
    private final CudaStream stream;
    private final GemmaConfig c;
    private final CudaGemmaWeights w;
    private final CudaWorkspace ws;
    private final int nCtx;
    private final int maxSeq;
    private final int chunkSize;
    private final List<Slot> slots = new ArrayList<>();
    private final Map<String, Slot> byKey = new HashMap<>();
    private final long[] counts;
    /** Per-expert sums of a stacked expert tensor: {@code experts x cols} floats at {@code offset}; counts on the host. */
    private record ExpertSlot(List<String> names, int cols, int experts, long offset, int badIndex, long[] counts) {}
    private final Map<String, ExpertSlot> expertSlots = new LinkedHashMap<>();
    /** Dense and expert slots in graph order (the CPU's order of first collection: the imatrix's entry order). */
    private final List<Object> entryOrder = new ArrayList<>();
    private final boolean moe;
    /** Host copies of a MoE layer's routing (tokens x k) and the rows grouped by expert. */
    private int[] routeIds, routeRows, routePos;
    /** Page-locked landing place of a MoE layer's expert ids, and the event after their copy (made at first use). */
    private MemorySegment routeHost;
    private CudaEvent routeCopied;
    /** Where each expert's rows start in the grouped buffers, and how many there are. */
    private int[] expertStart, expertCount;
    /** The imatrix segments of the current MoE layer's expert groups (made at routing when collecting). */
    private CudaKernels.ExpertSegments expertSegments;

    /**
     * How a MoE layer multiplies the grouped rows by the experts' matrices. BATCHED: each expert's rows padded with
     * zero rows to a multiple of {@link #EXPERT_ROW_ALIGN}, and one pointer-array batched GEMM per padded size, projection
     * and input half (experts of equal padded size together), when the padded rows fit the workspace (twice the routed
     * rows); else, and with ONE_PER_EXPERT, one GEMM per expert that received rows (~23,000 small cuBLAS calls per
     * 2,048-token batch on the 26B-A4B shape). The two give the same sums up to the GEMMs' rounding.
     */
    enum ExpertGemms { BATCHED, ONE_PER_EXPERT }
    static final int EXPERT_ROW_ALIGN = 64;
    private ExpertGemms expertGemms = ExpertGemms.BATCHED;
    /** MoE layers run with batched expert GEMMs / one GEMM per expert so far: the tests check which path ran. */
    long batchedMoeLayers, perExpertMoeLayers;
    /** Host copy of the device pointer table of the batched expert GEMMs: 10 arrays of nExpert addresses. */
    private long[] expertPointers;
    private int[] expertOrder;
    private final Imatrix base;
    private final Map<String, Long> baseMax = new HashMap<>();
    private final Map<Integer, DeviceBuffer[]> kvPersistent = new HashMap<>();
    private final MemorySegment hostIds;
    private final Arena hostArena = Arena.ofShared();
    private final long scoreFloats;
    private final boolean processOutput;
    private final boolean collecting;
    private final float[] layerScale;
    private final boolean splitInputs;
    /** Logits rows a batch may ask for: sequences x positions. */
    private final int maxOutRows;
    private final int nSuppress;
    private MemorySegment hostLogits;
    private float[] hostRow;
    private long peakBytes;
    /** Per layer: its RoPE cos/sin tables in the workspace (layers with the same RoPE share them). */
    private final DeviceBuffer[][] ropeTables;
    private Profile profile;
    /** The host view of the weights: the tensors' types and names (W4A4 picks its products by them). */
    private final GemmaWeights hostWeights;
    /**
     * The NVFP4 input quantization of the products with NVFP4 layer matrices: made when W4A4 is first turned on and
     * kept while it is off (verify-fp4 turns it on and off for every chunk; its kernels load once); null before.
     */
    private W4a4Inputs w4a4;
    private boolean w4a4On;

    private CudaSession(CudaDevice device, CudaKernels kernels, CudaGemm gemm, GemmaConfig c, GemmaWeights gw,
                        SessionSpec spec, Consumer<String> log, long weightBudget) {
        this.device = device;
        this.spec = spec;
        this.hostWeights = gw;
        ImatrixAccumulator base = spec.collects() ? spec.collectInto() : new ImatrixAccumulator(spec.sequenceLength());
        boolean processOutput = spec.processOutput();
        int nCtx = spec.sequenceLength(), maxSeq = spec.maxSequences();
        GemmInputs inputs = spec.gemmInputs();
        this.collecting = spec.collects();
        this.kernels = kernels;
        this.gemm = gemm;
        this.stream = device.defaultStream();
        this.c = c;
        this.nCtx = nCtx;
        this.maxSeq = maxSeq;
        this.chunkSize = base.chunkSize();
        this.processOutput = processOutput;
        this.splitInputs = inputs == GemmInputs.SPLIT_BF16;
        this.maxOutRows = maxSeq * spec.logitsRows();
        this.nSuppress = c.suppressTokens().length;
        this.base = base.snapshot(null);
        for (ImatrixEntry e : this.base.entries().values()) baseMax.put(e.name(), e.maxCount());
        layerScale = new float[c.nLayer()];
        for (int i = 0; i < c.nLayer(); i++) layerScale[i] = gw.layer(i).layerOutputScale();

        // the collected inputs, in graph order (see ActivationObserver)
        long offset = 0;
        int maxCols = c.nEmbd();
        for (LayerConfig lc : collecting ? c.layers() : List.<LayerConfig>of()) {
            LayerWeights lw = gw.layer(lc.index());
            String k = "blk." + lc.index() + ".";
            List<String> qkv = new ArrayList<>(List.of(lw.attnQ().name()));
            if (lc.hasKv()) {
                qkv.add(lw.attnK().name());
                if (lw.attnV() != null) qkv.add(lw.attnV().name());
            }
            offset = slot(k + "qkv", qkv, c.nEmbd(), offset);
            offset = slot(k + "o", List.of(lw.attnOutput().name()), lc.qDim(), offset);
            offset = slot(k + "gu", List.of(lw.ffnGate().name(), lw.ffnUp().name()), c.nEmbd(), offset);
            offset = slot(k + "down", List.of(lw.ffnDown().name()), lc.nFf(), offset);
            if (lw.hasMoe()) {
                LayerWeights.Moe m = lw.moe();
                offset = slot(k + "gate_inp", List.of(m.gateInp().name()), c.nEmbd(), offset);
                List<String> guNames = m.gateUpExps() != null ? List.of(m.gateUpExps().name())
                        : List.of(m.gateExps().name(), m.upExps().name());
                offset = expertSlot(k + "exps_gu", guNames, c.nEmbd(), c.nExpert(), offset);
                offset = expertSlot(k + "exps_down", List.of(m.downExps().name()), c.expertFf(), c.nExpert(), offset);
            }
            if (lw.inpGate() != null) {
                offset = slot(k + "inp_gate", List.of(lw.inpGate().name()), c.nEmbd(), offset);
                offset = slot(k + "proj", List.of(lw.proj().name()), c.perLayerInputDim(), offset);
            }
            maxCols = Math.max(maxCols, Math.max(lc.qDim(), lc.nFf()));
        }
        if (collecting && processOutput && ImatrixObserver.collects(gw.output().name(), true)) {
            offset = slot("output", List.of(gw.output().name()), c.nEmbd(), offset);
        }
        counts = new long[slots.size()];
        moe = c.nExpert() > 0 && gw.layers().stream().anyMatch(LayerWeights::hasMoe);

        int T = maxSeq * nCtx;
        int E = c.nEmbd();
        int maxQ = 0, maxKv = 0, maxFf = 0, maxProj = 0, maxGroupRows = 0;
        Set<Integer> shared = new HashSet<>();
        for (LayerConfig lc : c.layers()) {
            maxQ = Math.max(maxQ, lc.qDim());
            maxKv = Math.max(maxKv, lc.kvDim());
            maxFf = Math.max(maxFf, lc.nFf());
            maxProj = Math.max(maxProj, Math.max(CudaGemmaWeights.qkvRows(gw.layer(lc.index())), 2 * lc.nFf()));
            maxGroupRows = Math.max(maxGroupRows, lc.nHead() / lc.nHeadKv());
            if (!lc.hasKv()) shared.add(lc.kvLayer());
        }
        int pd = c.perLayerInputDim(), pw = pd * c.nLayer();
        maxProj = Math.max(maxProj, pd);
        int maxW = Math.max(Math.max(E, maxQ), Math.max(maxFf, pd));
        // one (sequence, KV head) block of scores: group * nCtx rows of nCtx keys
        long perBatch = (long) maxGroupRows * nCtx * nCtx;
        long batches = Math.max(1, Math.min((long) maxSeq * maxKvHeads(c), SCORE_BYTES / 4 / perBatch));
        scoreFloats = batches * perBatch;

        WorkspaceLayout plan = new WorkspaceLayout()
                .add("ids", 4L * T)
                .floats("h", (long) T * E)
                .floats("xf", (long) T * maxW)
                .add("xb", 2L * T * maxW)
                .add("xlo", splitInputs ? 2L * T * maxW : 0)
                .floats("proj", (long) T * maxProj)
                .floats("a", (long) T * E)
                .add("qh", 2L * T * maxQ)
                .add("kh", 2L * T * Math.max(1, maxKv))
                .add("vh", 2L * T * Math.max(1, maxKv))
                .floats("o", (long) T * maxQ)
                .floats("scores", scoreFloats)
                .add("probs", 2 * scoreFloats)
                .floats("sums", Math.max(1, offset))
                // an expert's rows start a segment of their own: up to one more segment per expert
                .floats("imatrix_scratch", CudaKernels.imatrixScratchFloats(T * Math.max(1, c.nExpertUsed())
                        + CudaKernels.IMATRIX_SEGMENT_ROWS * Math.max(0, c.nExpert()), Math.max(maxCols, Math.max(pd, c.expertFf()))))
                .add("bad", 4L * Math.max(1, slots.size() + expertSlots.size()));
        if (moe) {
            long routed = (long) T * c.nExpertUsed();
            long N = 2 * routed; // grouped rows, with room for padding (ExpertGemms.BATCHED)
            int ff = c.expertFf();
            plan.floats("moe_router_in", (long) T * E).floats("moe_logits", (long) T * c.nExpert())
                    .add("moe_ids", 4L * routed).floats("moe_w", routed).add("moe_rows", 4L * N).add("moe_pos", 4L * routed)
                    .add("moe_ptrs", 8L * 10 * c.nExpert())
                    .add("moe_segs", 4L * CudaKernels.ExpertSegments.maxInts(routed, c.nExpert()))
                    .floats("moe_u", (long) T * E).floats("moe_x", N * E).add("moe_xb", 2 * N * E)
                    .add("moe_xl", splitInputs ? 2 * N * E : 0).floats("moe_gu", N * 2 * ff).floats("moe_act", N * ff)
                    .add("moe_actb", 2 * N * ff).add("moe_actl", splitInputs ? 2 * N * ff : 0).floats("moe_d", N * E)
                    .floats("moe_out", (long) T * E).floats("moe_shared", (long) T * E);
            maxCols = Math.max(maxCols, ff);
            routeIds = new int[(int) routed];
            routeRows = new int[(int) N];
            routePos = new int[(int) routed];
            expertStart = new int[c.nExpert() + 1];
            expertCount = new int[c.nExpert()];
            expertPointers = new long[10 * c.nExpert()];
            expertOrder = new int[c.nExpert()];
        }
        if (maxOutRows > 0) {
            long r = maxOutRows, v = c.nVocab();
            plan.floats("logits", r * v)
                    .add("lm_b", 2L * r * E)
                    .add("lm_lo", splitInputs ? 2L * r * E : 0)
                    .add("targets", 4L * r)
                    .add("suppress", 4L * Math.max(1, nSuppress))
                    .floats("s_nll", r).add("s_nll_exact", 8L * r).floats("s_nll_base", r).add("s_kld", 8L * r)
                    .floats("s_pdiff", r).add("s_same", 4L * r);
        }
        for (int l : shared) {
            int kv = c.layer(l).kvDim();
            plan.add("kh." + l, 2L * T * kv).add("vh." + l, 2L * T * kv);
        }
        if (c.hasPerLayerInputs()) {
            plan.floats("ple", (long) T * pw).floats("ple_proj", (long) T * pw).add("emb_bf16", 2L * T * E)
                    .add("emb_lo", splitInputs ? 2L * T * E : 0);
        }
        // RoPE tables, one per distinct (n_rot, base, scale, factors), exactly the CPU's (runtime.cpu.Rope)
        Map<String, Integer> ropeIds = new LinkedHashMap<>();
        Map<Integer, dev.requant.runtime.cpu.Rope> ropes = new HashMap<>();
        int[] ropeOf = new int[c.nLayer()];
        for (LayerConfig l : c.layers()) {
            float[] ff = l.ropeFreqFactors() ? gw.ropeFreqs() : null;
            String key = l.nRot() + "/" + l.ropeBase() + "/" + l.ropeFreqScale() + "/" + (ff != null);
            Integer id = ropeIds.get(key);
            if (id == null) {
                id = ropeIds.size();
                ropeIds.put(key, id);
                ropes.put(id, new dev.requant.runtime.cpu.Rope(l.nRot(), l.ropeBase(), l.ropeFreqScale(), ff));
                plan.floats("rope_cos." + id, (long) nCtx * Math.max(1, l.nRot() / 2))
                        .floats("rope_sin." + id, (long) nCtx * Math.max(1, l.nRot() / 2));
            }
            ropeOf[l.index()] = id;
        }
        // the workspace first: the weights' placement (resident or streamed) sees the memory that is left
        this.ws = CudaWorkspace.allocate(device, plan);
        try {
            // the eval's score base (allocated later, one per reference) and cuBLAS's own workspace stay free
            long reserve = (maxOutRows > 0 ? 4L * maxOutRows * c.nVocab() + 12L * maxOutRows : 0) + (256L << 20);
            this.w = CudaGemmaWeights.upload(device, kernels, c, gw, spec.logitsRows() > 0, splitInputs, spec.gpuWeights(),
                    reserve, weightBudget, log);
        } catch (RuntimeException e) {
            ws.close();
            throw e;
        }
        for (int l : shared) kvPersistent.put(l, new DeviceBuffer[] {ws.get("kh." + l), ws.get("vh." + l)});
        for (var e : ropes.entrySet()) {
            device.copyToDevice(e.getValue().table(nCtx, true), ws.get("rope_cos." + e.getKey()));
            device.copyToDevice(e.getValue().table(nCtx, false), ws.get("rope_sin." + e.getKey()));
        }
        ropeTables = new DeviceBuffer[c.nLayer()][];
        for (int i = 0; i < c.nLayer(); i++) {
            ropeTables[i] = new DeviceBuffer[] {ws.get("rope_cos." + ropeOf[i]), ws.get("rope_sin." + ropeOf[i])};
        }
        device.zero(ws.get("sums"));
        device.fill32(ws.get("bad"), Integer.MAX_VALUE);
        if (maxOutRows > 0 && nSuppress > 0) device.copyToDevice(c.suppressTokens(), ws.get("suppress"));
        hostIds = hostArena.allocate(4L * T, 64);
        samplePeak();
    }

    /** Device memory in use now (all of the GPU's, this process's context and others), kept if it is the most yet. */
    private void samplePeak() {
        long[] info = device.memoryInfo();
        peakBytes = Math.max(peakBytes, info[1] - info[0]);
    }

    private static int maxKvHeads(GemmaConfig c) {
        int m = 1;
        for (LayerConfig l : c.layers()) m = Math.max(m, l.nHeadKv());
        return m;
    }

    private long expertSlot(String key, List<String> names, int cols, int experts, long offset) {
        ExpertSlot es = new ExpertSlot(List.copyOf(names), cols, experts, offset, expertSlots.size(), new long[experts]);
        expertSlots.put(key, es);
        entryOrder.add(es);
        return offset + (long) cols * experts;
    }

    private long slot(String key, List<String> names, int cols, long offset) {
        Slot s = new Slot(List.copyOf(names), cols, offset, slots.size());
        slots.add(s);
        entryOrder.add(s);
        byKey.put(key, s);
        return offset + cols;
    }



    /**
     * Opens the session: compiles or loads the kernels, uploads the weights and plans the workspace for batches of up
     * to {@code spec.maxSequences()} sequences. Owns {@code device} from here on (closes it).
     *
     * @throws CudaUnavailableException when NVRTC or cuBLAS cannot be loaded
     */
    public static CudaSession open(CudaDevice device, GemmaConfig c, GemmaWeights w, SessionSpec spec,
                                   Consumer<String> log) throws CudaUnavailableException {
        return open(device, c, w, spec, log, Long.MAX_VALUE);
    }

    /**
     * As {@link #open(CudaDevice, GemmaConfig, GemmaWeights, SessionSpec, Consumer)}, with {@code --gpu-weights auto}
     * planning as if at most {@code weightBudget} bytes of GPU memory were free for the weights (tests of a partly
     * streamed model on a GPU it fits).
     */
    static CudaSession open(CudaDevice device, GemmaConfig c, GemmaWeights w, SessionSpec spec, Consumer<String> log,
                            long weightBudget) throws CudaUnavailableException {
        CudaKernels kernels = null;
        CudaGemm gemm = null;
        try {
            kernels = CudaKernels.load(device);
            gemm = new CudaGemm(device, device.defaultStream());
            return new CudaSession(device, kernels, gemm, c, w, spec, log, weightBudget);
        } catch (RuntimeException | CudaUnavailableException e) {
            if (gemm != null) gemm.close();
            if (kernels != null) kernels.close();
            throw e;
        }
    }

    @Override
    public String description() {
        return "cuda, " + device.info().name() + (splitInputs ? "" : ", bf16 GEMM inputs") + ", " + w.placement.describe();
    }

    @Override
    public GemmaConfig config() { return c; }

    @Override
    public SessionSpec spec() { return spec; }

    @Override
    public boolean scoresOnDevice() { return true; }

    @Override
    public long peakDeviceBytes() { return peakBytes; }

    /** In place for dense matrices of resident layers, the LM head and the per-layer projection (not tables or experts). */
    @Override
    public boolean replaceMatrices(Map<String, dev.requant.runtime.model.WeightTensor> replacements) {
        for (String name : replacements.keySet()) if (!w.replaceable(name)) return false;
        device.makeCurrent();
        for (var e : replacements.entrySet()) w.replace(e.getKey(), e.getValue());
        samplePeak();
        return true;
    }

    /**
     * W4A4 on (input scales by weight name) or off (null), for the products with NVFP4 layer matrices (see
     * {@link W4a4Inputs}). Refused where an NVFP4 matrix outside the layers' dense products (the per-layer model
     * projection, a router) would be left unquantized, or the FP4 kernels do not compile here.
     */
    @Override
    public boolean useW4a4(Map<String, Float> inputScales) {
        if (inputScales == null) {
            w4a4On = false;
            return true;
        }
        if (W4a4Inputs.unreached(hostWeights) != null) return false;
        device.makeCurrent();
        if (w4a4 != null && w4a4.scales(inputScales)) {
            w4a4.resetCalls();
        } else {
            if (w4a4 != null) {
                device.synchronize();
                w4a4.close();
                w4a4 = null;
            }
            try {
                w4a4 = new W4a4Inputs(device, inputScales);
            } catch (CudaUnavailableException e) {
                return false;
            }
        }
        w4a4On = true;
        return true;
    }

    @Override
    public long[] w4a4Calls() { return w4a4 != null ? w4a4.calls() : new long[2]; }

    /** Records the device time of each phase of the next batches (gemm, attention, imatrix, other) for benchmarks. */
    public void profile(boolean on) {
        if (profile != null) profile.close();
        profile = on ? new Profile(device) : null;
    }

    /** Milliseconds of device time per phase since {@link #profile} was turned on. */
    public Map<String, Double> profileMillis() {
        return profile == null ? Map.of() : profile.totals();
    }

    private void mark(String phase) {
        if (profile != null) profile.mark(phase, stream);
    }

    @Override
    public void run(ForwardBatch b) {
        device.makeCurrent(); // a sharded run calls from its own threads
        int nSeq = b.sequences();
        int[] tokens = b.tokens();
        int[] collectedRows = b.collectedRows();
        if (nSeq > maxSeq || tokens.length < nSeq * nCtx) {
            throw new IllegalArgumentException("batch of " + nSeq + " x " + nCtx + " does not fit the planned " + maxSeq + " x " + nCtx);
        }
        if (collectedRows != null && !collecting) throw new IllegalStateException("this session was not opened to collect");
        if (b.outRows() > spec.logitsRows() || b.outTo() > nCtx) {
            throw new IllegalArgumentException("logits of positions " + b.outFrom() + ".." + b.outTo() + " exceed the session's "
                    + spec.logitsRows() + " rows");
        }
        int T = nSeq * nCtx;
        for (int i = 0; i < T; i++) {
            int t = tokens[i];
            if (t < 0 || t >= c.nVocab()) throw new IllegalArgumentException("token id " + t + " is outside the vocabulary of " + c.nVocab());
            hostIds.setAtIndex(ValueLayout.JAVA_INT, i, t);
        }
        DeviceBuffer ids = ws.get("ids");
        device.copyToDevice(hostIds.asSlice(0, 4L * T), ids);
        forward(T, nSeq, collectedRows == null ? new int[0] : collectedRows);
        if (b.outRows() > 0) logits(b, nSeq);
        mark(null);
        stream.synchronize();
        if (profile != null) profile.collect();
        if (b.outRows() > 0 && b.logits() != null) deliver(b, nSeq);
        samplePeak();
    }

    /**
     * The LM head on the wanted positions: output norm (into the bf16 split), logits = x·Wᵀ, softcap, suppressed
     * tokens at -inf; then the scores, when asked for.
     */
    private void logits(ForwardBatch b, int nSeq) {
        int E = c.nEmbd(), V = c.nVocab(), R = nSeq * b.outRows();
        DeviceBuffer h = ws.get("h"), lmB = ws.get("lm_b"), lmLo = splitInputs ? ws.get("lm_lo") : null, lg = ws.get("logits");
        mark("lm_head");
        for (int s = 0; s < nSeq; s++) {
            long src = (long) s * nCtx + b.outFrom(), dst = (long) s * b.outRows();
            kernels.rmsNormFused(stream, h.slice(4L * src * E, 4L * b.outRows() * E), E, w.outputNorm, null, 0,
                    lmB.slice(2L * dst * E, 2L * b.outRows() * E),
                    lmLo == null ? null : lmLo.slice(2L * dst * E, 2L * b.outRows() * E), E, b.outRows(), E, c.rmsEps(), false);
        }
        gemm(lmB, lmLo, w.output, lg, R, V, E);
        if (c.finalLogitSoftcap() > 0f) kernels.softcap(stream, lg, c.finalLogitSoftcap(), (long) R * V);
        kernels.suppressTokens(stream, lg, V, R, ws.get("suppress"), nSuppress);
        ForwardBatch.Scoring sc = b.scoring();
        if (sc == null) return;
        if (sc.targets().length < R) throw new IllegalArgumentException(sc.targets().length + " targets for " + R + " rows");
        if (!(sc.base() instanceof CudaScoreBase base) || base.rows() < R) {
            throw new IllegalArgumentException("the score base must come from a CUDA session's newScoreBase, with room for " + R + " rows");
        }
        for (int t : sc.targets()) if (t < 0 || t >= V) throw new IllegalArgumentException("target token " + t + " outside the vocabulary");
        mark("scores");
        DeviceBuffer targets = ws.get("targets");
        device.copyToDevice(MemorySegment.ofArray(sc.targets()).asSlice(0, 4L * R), targets.slice(0, 4L * R));
        if (sc.reference()) {
            kernels.scoreBase(stream, lg, R, V, targets, base.logProbs, base.argmax, base.nll, ws.get("s_nll"), ws.get("s_nll_exact"));
        } else {
            kernels.scoreKld(stream, lg, R, V, targets, base.logProbs, base.argmax, base.nll, ws.get("s_nll"),
                    ws.get("s_nll_base"), ws.get("s_kld"), ws.get("s_pdiff"), ws.get("s_same"));
        }
        stream.synchronize();
        ForwardBatch.RowScores out = sc.out();
        System.arraycopy(device.floats(ws.get("s_nll"), R), 0, out.nll(), 0, R);
        if (sc.reference()) {
            MemorySegment.copy(hostDoubles(ws.get("s_nll_exact"), R), java.lang.foreign.ValueLayout.JAVA_DOUBLE, 0, out.nllExact(), 0, R);
        } else {
            System.arraycopy(device.floats(ws.get("s_nll_base"), R), 0, out.nllBase(), 0, R);
            MemorySegment.copy(hostDoubles(ws.get("s_kld"), R), java.lang.foreign.ValueLayout.JAVA_DOUBLE, 0, out.kld(), 0, R);
            System.arraycopy(device.floats(ws.get("s_pdiff"), R), 0, out.pDiff(), 0, R);
            int[] same = device.ints(ws.get("s_same"), R);
            for (int i = 0; i < R; i++) out.sameTop()[i] = same[i] != 0;
        }
    }

    private MemorySegment hostDoubles(DeviceBuffer src, int n) {
        MemorySegment m = MemorySegment.ofArray(new double[n]);
        device.copyToHost(src.slice(0, 8L * n), m);
        return m;
    }

    /** Copies the logits rows to pinned host memory and hands them to the sink, row by row in batch order. */
    private void deliver(ForwardBatch b, int nSeq) {
        int V = c.nVocab(), R = nSeq * b.outRows();
        long bytes = 4L * R * V;
        if (hostLogits == null) {
            hostLogits = device.allocateHost(4L * maxOutRows * V);
            hostRow = new float[V];
        }
        device.copyToHost(ws.get("logits").slice(0, bytes), hostLogits.asSlice(0, bytes));
        for (int r = 0; r < R; r++) {
            MemorySegment.copy(hostLogits, ValueLayout.JAVA_FLOAT, 4L * r * V, hostRow, 0, V);
            b.logits().accept(r / b.outRows(), b.outFrom() + r % b.outRows(), hostRow, 0);
        }
    }

    @Override
    public ScoreBase newScoreBase(int rows) {
        if (rows < 1) throw new IllegalArgumentException("a score base needs at least one row");
        device.makeCurrent();
        ScoreBase sb = new CudaScoreBase(device, rows, c.nVocab());
        samplePeak();
        return sb;
    }

    /** A reference's log-probs [rows x n_vocab], first arg-maxes and NLLs on this GPU. */
    private static final class CudaScoreBase implements ScoreBase {
        private final CudaDevice device;
        private final int rows;
        final DeviceBuffer logProbs, argmax, nll;

        CudaScoreBase(CudaDevice device, int rows, int nVocab) {
            this.device = device;
            this.rows = rows;
            logProbs = device.allocate(4L * rows * nVocab);
            argmax = device.allocate(4L * rows);
            nll = device.allocate(4L * rows);
        }

        @Override
        public int rows() { return rows; }

        @Override
        public void close() {
            device.synchronize();
            device.free(logProbs);
            device.free(argmax);
            device.free(nll);
        }
    }

    /**
     * y = x·Wᵀ from the bf16 splits of x and W: W·x_hi, plus W·x_lo when the inputs are split, plus W_lo·x_hi when W
     * has a low half (a matrix bf16 does not hold exactly; see CudaGemmaWeights). W_lo·x_lo (about 2^-32) is left out.
     */
    private void gemm(DeviceBuffer hi, DeviceBuffer lo, DeviceBuffer w, DeviceBuffer y, int m, int n, int k) {
        gemm(hi, lo, w, this.w.low(w), y, m, n, k);
    }

    /**
     * A layer region's product {@code y = src·Wᵀ}, where {@code hi}/{@code lo} hold the bf16 split of the float input
     * {@code src}. Under W4A4, when one of {@code parts} (the region's matrices by their rows, in upload order) is
     * NVFP4, each part runs on its own band of rows with its own quantized input (Q, K and V, or gate and up, have
     * input scales of their own); a part that is not NVFP4 takes the plain split again.
     */
    private void product(DeviceBuffer src, DeviceBuffer hi, DeviceBuffer lo, DeviceBuffer w, DeviceBuffer wLo, DeviceBuffer y,
                         int m, int n, int k, WeightTensor... parts) {
        boolean any = false;
        if (w4a4On) for (WeightTensor p : parts) any |= W4a4Inputs.applies(p);
        if (!any) {
            gemm(hi, lo, w, wLo, y, m, n, k);
            return;
        }
        boolean amaxDone = false;
        int r0 = 0;
        for (WeightTensor p : parts) {
            if (p == null) continue;
            int pr = p.rows();
            if (W4a4Inputs.applies(p)) amaxDone = w4a4.quantize(stream, p, src, m, k, hi, lo, amaxDone);
            else kernels.f32ToBf16Split(stream, src, hi, lo, (long) m * k);
            DeviceBuffer band = w.slice(2L * r0 * k, 2L * pr * k), out = y.slice(4L * r0, y.bytes() - 4L * r0);
            gemm.bf16(hi, band, out, m, pr, k, false, n);
            if (lo != null) gemm.bf16(lo, band, out, m, pr, k, true, n);
            if (wLo != null) gemm.bf16(hi, wLo.slice(2L * r0 * k, 2L * pr * k), out, m, pr, k, true, n);
            r0 += pr;
        }
        if (r0 != n) throw new IllegalStateException("the parts of a fused product have " + r0 + " rows, its region " + n);
    }

    /** As above with the weights' low half {@code wLo} (or null) given: a layer's matrix. */
    private void gemm(DeviceBuffer hi, DeviceBuffer lo, DeviceBuffer w, DeviceBuffer wLo, DeviceBuffer y, int m, int n, int k) {
        gemm.bf16(hi, w, y, m, n, k, false);
        if (lo != null) gemm.bf16(lo, w, y, m, n, k, true);
        if (wLo != null) gemm.bf16(hi, wLo, y, m, n, k, true);
    }

    private void forward(int T, int nSeq, int[] rows) {
        int E = c.nEmbd();
        float eps = c.rmsEps();
        boolean g4 = c.arch() == GemmaArch.GEMMA4;
        DeviceBuffer ids = ws.get("ids"), h = ws.get("h"), xf = ws.get("xf"), xb = ws.get("xb"), proj = ws.get("proj"),
                a = ws.get("a"), qh = ws.get("qh"), o = ws.get("o");
        DeviceBuffer xl = splitInputs ? ws.get("xlo") : null;
        mark("other");
        kernels.getRows(stream, w.tokenEmbd.data(), w.tokenEmbd.type(), E, ids, T, c.embeddingScale(), h, E);
        int pd = c.perLayerInputDim(), pw = pd * c.nLayer();
        DeviceBuffer embLo = null;
        if (c.hasPerLayerInputs()) {
            embLo = splitInputs ? ws.get("emb_lo") : null;
            kernels.f32ToBf16Split(stream, h, ws.get("emb_bf16"), embLo, (long) T * E);
            kernels.getRows(stream, w.perLayerTokenEmbd.data(), w.perLayerTokenEmbd.type(), pw, ids, T,
                    (float) Math.sqrt(pd), ws.get("ple"), pw);
        }
        LayerStream streamed = w.stream;
        if (streamed != null) streamed.prefetch();
        for (LayerConfig lc : c.layers()) {
            int li = lc.index();
            boolean streams = streamed != null && streamed.streams(li);
            CudaGemmaWeights.Layer lw = streams ? streamed.acquire(li, stream) : w.layer(li);
            LayerWeights hw = hostWeights.layer(li);
            String key = "blk." + li + ".";
            int qDim = lc.qDim(), kvDim = lc.kvDim(), hd = lc.headDim(), nFf = lc.nFf();

            // attention: h += rmsnorm(Wo · attn(rope(norm(Wq x)), rope(norm(Wk x)), Wv x), post_attention_norm)
            mark("other");
            kernels.rmsNormFused(stream, h, E, lw.attnNorm(), xf, E, xb, xl, E, T, E, eps, false);
            collect(key + "qkv", xf, E, rows);
            mark("gemm");
            product(xf, xb, xl, lw.qkv(), lw.low(lw.qkv()), proj, T, lw.qkvRows(), E, hw.attnQ(), hw.attnK(), hw.attnV());
            mark("attention");
            DeviceBuffer[] kv = kvPersistent.getOrDefault(lc.kvLayer(), new DeviceBuffer[] {ws.get("kh"), ws.get("vh")});
            boolean hasV = lc.hasKv() && lw.qkvRows() == qDim + 2 * kvDim;
            CudaKernels.QkvShape shape = new CudaKernels.QkvShape(T, nCtx, lc.nHead(), lc.hasKv() ? lc.nHeadKv() : 0, hd,
                    lc.nRot(), lw.qkvRows(), 0, qDim, hasV ? qDim + kvDim : qDim, g4, eps);
            kernels.qkvPrep(stream, shape, proj, lw.qNorm(), lw.kNorm(), ropeTables[li][0], ropeTables[li][1], qh, kv[0], kv[1]);
            attention(lc, nSeq, qh, kv[0], kv[1], o);
            kernels.attnGather(stream, o, xf, xb, xl, T, lc.nHead(), hd, nCtx);
            collect(key + "o", xf, qDim, rows);
            mark("gemm");
            product(xf, xb, xl, lw.attnOutput(), lw.low(lw.attnOutput()), a, T, E, qDim, hw.attnOutput());
            mark("other");
            kernels.rmsNormFused(stream, a, E, lw.postAttentionNorm(), h, E, null, null, 0, T, E, eps, true);

            // FFN: h += rmsnorm(down(gelu(gate x) * up x), post_ffw_norm), x = rmsnorm(h, ffn_norm)
            if (lw.moe() != null) routeAhead(lw.moe(), key, T, rows);
            kernels.rmsNormFused(stream, h, E, lw.ffnNorm(), xf, E, xb, xl, E, T, E, eps, false);
            collect(key + "gu", xf, E, rows);
            mark("gemm");
            product(xf, xb, xl, lw.gateUp(), lw.low(lw.gateUp()), proj, T, 2 * nFf, E, hw.ffnGate(), hw.ffnUp());
            mark("other");
            kernels.geglu(stream, proj, 2L * nFf, proj.slice(4L * nFf, proj.bytes() - 4L * nFf), 2L * nFf, xf, nFf, xb, xl,
                    nFf, T, nFf);
            collect(key + "down", xf, nFf, rows);
            mark("gemm");
            product(xf, xb, xl, lw.down(), lw.low(lw.down()), a, T, E, nFf, hw.ffnDown());
            mark("other");
            DeviceBuffer ffnOut = a;
            if (lw.moe() != null) ffnOut = moeBlock(lc, lw.moe(), key, T, rows, a);
            kernels.rmsNormFused(stream, ffnOut, E, lw.postFfwNorm(), h, E, null, null, 0, T, E, eps, true);

            // Gemma 4 per-layer inputs: h += rmsnorm(proj · (gelu(inp_gate · h) ⊙ P[li]), post_norm)
            if (lw.inpGate() != null) {
                kernels.f32ToBf16Split(stream, h, xb, xl, (long) T * E);
                collect(key + "inp_gate", h, E, rows);
                mark("gemm");
                product(h, xb, xl, lw.inpGate(), lw.low(lw.inpGate()), proj, T, pd, E, hw.inpGate());
                DeviceBuffer ple = ws.get("ple");
                if (li == 0) {
                    gemm(ws.get("emb_bf16"), embLo, w.perLayerModelProj, ws.get("ple_proj"), T, pw, E);
                    mark("other");
                    kernels.pleCombine(stream, ws.get("ple_proj"), ple, pw, T, c.nLayer(), pd, w.perLayerProjNorm,
                            1f / (float) Math.sqrt(E), 1f / (float) Math.sqrt(2f), eps);
                }
                mark("other");
                kernels.geglu(stream, proj, pd, ple.slice(4L * li * pd, ple.bytes() - 4L * li * pd), pw, xf, pd, xb, xl, pd,
                        T, pd);
                collect(key + "proj", xf, pd, rows);
                mark("gemm");
                product(xf, xb, xl, lw.proj(), lw.low(lw.proj()), a, T, E, pd, hw.proj());
                mark("other");
                kernels.rmsNormFused(stream, a, E, lw.postNorm(), h, E, null, null, 0, T, E, eps, true);
            }
            if (!Float.isNaN(layerScale[li])) kernels.scale(stream, h, layerScale[li], (long) T * E);
            if (streams) streamed.release(li, stream);
        }
        Slot out = byKey.get("output");
        if (out != null) {
            mark("other");
            kernels.rmsNormFused(stream, h, E, w.outputNorm, xf, E, null, null, 0, T, E, eps, false);
            collect("output", xf, E, rows);
        }
    }

    /**
     * The Gemma 4 expert branch beside the dense FFN, whose output {@code shared} it joins (runtime.cpu.MoeBlock):
     * rmsnorm(shared, post_ffw_norm_1) + rmsnorm(Σ_k w_k · s_e · down_e(gelu(gate_e u) ⊙ up_e u), post_ffw_norm_2),
     * with u = rmsnorm(h, pre_ffw_norm_2) and the router on rmsnorm(h) / sqrt(n_embd) ⊙ ffn_gate_inp.scale (a float32
     * GEMM: the top-k choice follows the router's rounding). The routing comes to the host once per layer, which
     * groups the rows by expert (as the CPU does) and runs one GEMM per expert that received rows. Returns the buffer
     * holding the joined output.
     */
    /**
     * The router of a MoE layer, queued before the layer's dense FFN (both read h, neither writes it): the top-k choice
     * and an asynchronous copy of the expert ids to page-locked host memory, with an event, so that the host waits
     * for the routing in {@link #moeBlock} while the GPU runs the dense FFN, instead of the GPU idling while the host
     * groups the rows.
     */
    private void routeAhead(CudaGemmaWeights.Moe m, String key, int T, int[] rows) {
        int E = c.nEmbd(), nExp = c.nExpert(), k = c.nExpertUsed(), N = T * k;
        DeviceBuffer h = ws.get("h"), rin = ws.get("moe_router_in"), logits = ws.get("moe_logits");
        mark("other");
        kernels.rmsNormFused(stream, h, E, m.routerScale(), rin, E, null, null, 0, T, E, c.rmsEps(), false);
        collect(key + "gate_inp", rin, E, rows);
        mark("gemm");
        gemm.f32(rin, m.gateInp(), logits, T, nExp, E);
        mark("moe_route");
        DeviceBuffer ids = ws.get("moe_ids"), wts = ws.get("moe_w");
        kernels.moeRoute(stream, logits, T, nExp, k, ids, wts);
        if (routeHost == null) {
            routeHost = device.allocateHost(4L * routeIds.length);
            routeCopied = device.createEvent();
        }
        device.copyToHostAsync(ids.slice(0, 4L * N), routeHost.asSlice(0, 4L * N), stream);
        routeCopied.record(stream);
    }

    private DeviceBuffer moeBlock(LayerConfig lc, CudaGemmaWeights.Moe m, String key, int T, int[] rows, DeviceBuffer shared) {
        int E = c.nEmbd(), nExp = c.nExpert(), k = c.nExpertUsed(), ff = c.expertFf(), N = T * k;
        float eps = c.rmsEps();
        DeviceBuffer out = ws.get("moe_shared");
        mark("other");
        kernels.rmsNormFused(stream, shared, E, m.postFfwNorm1(), out, E, null, null, 0, T, E, eps, false);
        DeviceBuffer h = ws.get("h"), wts = ws.get("moe_w");
        mark("moe_route");
        routeCopied.synchronize(); // the routing queued by routeAhead; the dense FFN queued after it may still run
        MemorySegment.copy(routeHost, ValueLayout.JAVA_INT, 0, routeIds, 0, N);
        // rows grouped by expert, tokens in order within an expert (MoeBlock's rowsOf)
        java.util.Arrays.fill(expertCount, 0);
        for (int i = 0; i < N; i++) expertCount[routeIds[i]]++;
        long padded = 0;
        for (int n : expertCount) padded += paddedRows(n);
        boolean batched = expertGemms == ExpertGemms.BATCHED && padded <= routeRows.length;
        for (int e = 0; e < nExp; e++) expertStart[e + 1] = expertStart[e] + (batched ? paddedRows(expertCount[e]) : expertCount[e]);
        int grouped = expertStart[nExp];
        if (batched) java.util.Arrays.fill(routeRows, 0, grouped, -1); // padding rows: zeros (gatherRows)
        if (batched) batchedMoeLayers++;
        else perExpertMoeLayers++;
        int[] fill = java.util.Arrays.copyOf(expertStart, nExp);
        for (int t = 0; t < T; t++) {
            for (int j = 0; j < k; j++) {
                int e = routeIds[t * k + j];
                int r = fill[e]++;
                routeRows[r] = t;
                routePos[t * k + j] = r;
            }
        }
        DeviceBuffer rowsBuf = ws.get("moe_rows"), posBuf = ws.get("moe_pos");
        device.copyToDevice(MemorySegment.ofArray(routeRows).asSlice(0, 4L * grouped), rowsBuf.slice(0, 4L * grouped));
        device.copyToDevice(MemorySegment.ofArray(routePos).asSlice(0, 4L * N), posBuf.slice(0, 4L * N));
        if (collecting) {
            // the imatrix segments of this layer's expert groups (both projections), while the stream is idle
            expertSegments = CudaKernels.ExpertSegments.of(expertStart, expertCount, nExp);
            int[] st = expertSegments.table();
            device.copyToDevice(MemorySegment.ofArray(st), ws.get("moe_segs").slice(0, 4L * st.length));
        }
        mark("other");
        DeviceBuffer u = ws.get("moe_u"), x = ws.get("moe_x"), xb = ws.get("moe_xb"), xl = splitInputs ? ws.get("moe_xl") : null;
        kernels.rmsNormFused(stream, h, E, m.preFfwNorm2(), u, E, null, null, 0, T, E, eps, false);
        kernels.gatherRows(stream, u, rowsBuf, grouped, E, x, xb, xl);
        boolean fused = m.up() == null;
        DeviceBuffer gu = ws.get("moe_gu"), act = ws.get("moe_act"), actb = ws.get("moe_actb"),
                actl = splitInputs ? ws.get("moe_actl") : null, d = ws.get("moe_d");
        collectExperts(key + "exps_gu", x, E, rows != null && rows.length > 0);
        mark("gemm");
        long guRows = fused ? 2L * ff : ff;
        DeviceBuffer ptrs = ws.get("moe_ptrs");
        int used = batched ? expertPointerTable(m, fused, guRows, grouped, xb, xl, gu, actb, actl, d, ptrs) : 0;
        if (batched) {
            // per padded size: gate (and up) for the inputs' high then low half, accumulated
            forEachBucket(used, (at, rowsPer, count) -> {
                for (int half = 0; half < (xl == null ? 1 : 2); half++) {
                    gemm.bf16Pointers(ptrs, ptrAt(0, at), ptrAt(1 + half, at), ptrAt(3, at), rowsPer, (int) guRows, E, count, half == 1);
                    if (!fused) gemm.bf16Pointers(ptrs, ptrAt(4, at), ptrAt(1 + half, at), ptrAt(5, at), rowsPer, ff, E, count, half == 1);
                }
            });
        }
        for (int e = 0; e < nExp && !batched; e++) {
            int r0 = expertStart[e], n = expertCount[e];
            if (n == 0) continue;
            DeviceBuffer xe = xb.slice(2L * r0 * E, 2L * n * E), le = xl == null ? null : xl.slice(2L * r0 * E, 2L * n * E);
            DeviceBuffer we = m.gateUp().slice(2L * e * guRows * E, 2L * guRows * E);
            if (fused) {
                gemm(xe, le, we, gu.slice(4L * r0 * 2 * ff, 4L * n * 2 * ff), n, 2 * ff, E);
            } else {
                gemm(xe, le, we, gu.slice(4L * r0 * ff, 4L * n * ff), n, ff, E);
                gemm(xe, le, m.up().slice(2L * e * ff * E, 2L * ff * E), gu.slice(4L * ((long) grouped * ff + (long) r0 * ff), 4L * n * ff), n, ff, E);
            }
        }
        mark("other");
        if (fused) {
            kernels.geglu(stream, gu, 2L * ff, gu.slice(4L * ff, gu.bytes() - 4L * ff), 2L * ff, act, ff, actb, actl, ff, grouped, ff);
        } else {
            kernels.geglu(stream, gu, ff, gu.slice(4L * grouped * ff, 4L * grouped * ff), ff, act, ff, actb, actl, ff, grouped, ff);
        }
        collectExperts(key + "exps_down", act, ff, rows != null && rows.length > 0);
        mark("gemm");
        if (batched) {
            forEachBucket(used, (at, rowsPer, count) -> {
                for (int half = 0; half < (actl == null ? 1 : 2); half++) {
                    gemm.bf16Pointers(ptrs, ptrAt(6, at), ptrAt(7 + half, at), ptrAt(9, at), rowsPer, E, ff, count, half == 1);
                }
            });
        }
        for (int e = 0; e < nExp && !batched; e++) {
            int r0 = expertStart[e], n = expertCount[e];
            if (n == 0) continue;
            gemm(actb.slice(2L * r0 * ff, 2L * n * ff), actl == null ? null : actl.slice(2L * r0 * ff, 2L * n * ff),
                    m.down().slice(2L * e * E * ff, 2L * E * ff), d.slice(4L * r0 * E, 4L * n * E), n, E, ff);
        }
        mark("other");
        DeviceBuffer mo = ws.get("moe_out");
        kernels.moeCombine(stream, d, posBuf, wts, T, k, E, mo);
        kernels.rmsNormFused(stream, mo, E, m.postFfwNorm2(), out, E, null, null, 0, T, E, eps, true);
        return out;
    }

    private static int paddedRows(int n) {
        return (n + EXPERT_ROW_ALIGN - 1) / EXPERT_ROW_ALIGN * EXPERT_ROW_ALIGN;
    }

    /** Byte offset of entry {@code at} of array {@code array} in the expert pointer table. */
    private long ptrAt(int array, int at) {
        return 8L * ((long) array * c.nExpert() + at);
    }

    private interface Bucket { void gemms(int at, int rowsPer, int count); }

    /** Calls {@code b} once per run of equal padded sizes among the first {@code used} experts of {@code expertOrder}. */
    private void forEachBucket(int used, Bucket b) {
        for (int i = 0; i < used; ) {
            int rows = paddedRows(expertCount[expertOrder[i]]), j = i;
            while (j < used && paddedRows(expertCount[expertOrder[j]]) == rows) j++;
            b.gemms(i, rows, j - i);
            i = j;
        }
    }

    /**
     * Fills the device pointer table of a MoE layer's batched expert GEMMs for the experts that received rows, ordered
     * by padded size (expertOrder): arrays 0 gate(+up) weights, 1-2 inputs high/low, 3 gate(+up) outputs, 4-5 up
     * weights/outputs (separate gate and up), 6 down weights, 7-8 activations high/low, 9 down outputs. Called after
     * the stream was synchronised (the previous layer's GEMMs have read the table). Returns the experts used.
     */
    private int expertPointerTable(CudaGemmaWeights.Moe m, boolean fused, long guRows, int grouped, DeviceBuffer xb,
                                   DeviceBuffer xl, DeviceBuffer gu, DeviceBuffer actb, DeviceBuffer actl, DeviceBuffer d,
                                   DeviceBuffer ptrs) {
        int nExp = c.nExpert(), E = c.nEmbd(), ff = c.expertFf(), used = 0;
        for (int e = 0; e < nExp; e++) if (expertCount[e] > 0) expertOrder[used++] = e;
        Integer[] boxed = new Integer[used];
        for (int i = 0; i < used; i++) boxed[i] = expertOrder[i];
        java.util.Arrays.sort(boxed, java.util.Comparator.comparingInt((Integer e) -> paddedRows(expertCount[e])).thenComparingInt(e -> e));
        long[] t = expertPointers;
        java.util.Arrays.fill(t, 0);
        for (int i = 0; i < used; i++) {
            int e = boxed[i];
            expertOrder[i] = e;
            long r0 = expertStart[e];
            t[nExp * 0 + i] = m.gateUp().address() + 2L * e * guRows * E;
            t[nExp + i] = xb.address() + 2L * r0 * E;
            t[nExp * 2 + i] = xl == null ? 0 : xl.address() + 2L * r0 * E;
            t[nExp * 3 + i] = gu.address() + 4L * r0 * guRows;
            if (!fused) {
                t[nExp * 4 + i] = m.up().address() + 2L * e * ff * E;
                t[nExp * 5 + i] = gu.address() + 4L * ((long) grouped * ff + r0 * ff);
            }
            t[nExp * 6 + i] = m.down().address() + 2L * e * E * ff;
            t[nExp * 7 + i] = actb.address() + 2L * r0 * ff;
            t[nExp * 8 + i] = actl == null ? 0 : actl.address() + 2L * r0 * ff;
            t[nExp * 9 + i] = d.address() + 4L * r0 * E;
        }
        device.copyToDevice(MemorySegment.ofArray(t), ptrs.slice(0, 8L * t.length));
        return used;
    }

    /** Tests: the expert GEMMs' path (the default is {@link ExpertGemms#BATCHED}). */
    CudaSession expertGemms(ExpertGemms g) {
        this.expertGemms = g;
        return this;
    }

    /**
     * Adds each expert's grouped rows of {@code x} ({@code cols} floats each) to its sums, as llama-imatrix collects
     * MUL_MAT_ID inputs (every routed row; see ImatrixObserver.onExpertMatMul); counts on the host.
     */
    private void collectExperts(String key, DeviceBuffer x, int cols, boolean collecting) {
        ExpertSlot s = expertSlots.get(key);
        if (s == null || !collecting) return;
        mark("imatrix");
        DeviceBuffer bad = ws.get("bad").slice(4L * (slots.size() + s.badIndex()), 4);
        // every expert in two launches (the segments made at routing), the same sums as one imatrixRows per expert
        kernels.imatrixExpertRows(stream, x, cols, expertSegments, ws.get("moe_segs"), cols, ws.get("imatrix_scratch"),
                ws.get("sums").slice(4L * s.offset(), 4L * s.experts() * cols), bad);
        for (int e = 0; e < s.experts(); e++) s.counts()[e] += expertCount[e];
    }

    /**
     * softmax(scale · Q·Kᵀ + causal/window mask) · V for every (sequence, KV head) block, in slabs of blocks whose
     * scores fit the workspace. A block stacks the group's query heads: rows = group · nCtx.
     */
    private void attention(LayerConfig lc, int nSeq, DeviceBuffer qh, DeviceBuffer kh, DeviceBuffer vh, DeviceBuffer o) {
        int hd = lc.headDim(), nKv = lc.nHeadKv();
        int group = lc.nHead() / nKv;
        int rowsPer = group * nCtx;
        long perBatch = (long) rowsPer * nCtx;
        int blocks = nSeq * nKv;
        int slab = (int) Math.max(1, Math.min(blocks, scoreFloats / perBatch));
        int window = lc.slidingWindow() && c.slidingWindow() > 0 ? c.slidingWindow() : 0;
        DeviceBuffer scores = ws.get("scores"), probs = ws.get("probs");
        for (int b0 = 0; b0 < blocks; b0 += slab) {
            int nb = Math.min(slab, blocks - b0);
            DeviceBuffer q = qh.slice(2L * b0 * rowsPer * hd, 2L * nb * rowsPer * hd);
            DeviceBuffer k = kh.slice(2L * b0 * nCtx * hd, 2L * nb * nCtx * hd);
            DeviceBuffer v = vh.slice(2L * b0 * nCtx * hd, 2L * nb * nCtx * hd);
            DeviceBuffer out = o.slice(4L * b0 * rowsPer * hd, 4L * nb * rowsPer * hd);
            gemm.f16BatchedABt(q, (long) rowsPer * hd, k, (long) nCtx * hd, scores, perBatch, rowsPer, nCtx, hd,
                    lc.attnScale(), nb);
            kernels.softmaxCausal(stream, scores, probs, rowsPer, nCtx, window, nb);
            gemm.f16BatchedAB(probs, perBatch, v, (long) nCtx * hd, out, (long) rowsPer * hd, rowsPer, hd, nCtx, nb);
        }
    }

    /** Adds the collected rows of {@code x} (row stride {@code stride} floats) to a slot's sums; counts on the host. */
    private void collect(String key, DeviceBuffer x, long stride, int[] rows) {
        if (rows.length == 0) return;
        Slot s = byKey.get(key);
        mark("imatrix");
        DeviceBuffer sums = ws.get("sums").slice(4L * s.offset(), 4L * s.cols());
        DeviceBuffer bad = ws.get("bad").slice(4L * s.index(), 4);
        for (int i = 0; i < rows.length; i += 2) {
            int r0 = rows[i], n = rows[i + 1] - rows[i];
            kernels.imatrixRows(stream, x.slice(4L * r0 * stride, 4L * n * stride), stride, n, s.cols(),
                    ws.get("imatrix_scratch"), sums, bad);
            counts[s.index()] += n;
        }
    }

    @Override
    public int lastChunk() {
        Map<String, Long> max = new HashMap<>(baseMax);
        for (Slot s : slots) {
            for (String n : s.names()) max.merge(n, counts[s.index()], Long::sum);
        }
        long m = 0;
        for (long v : max.values()) m = Math.max(m, v);
        return (int) (m / chunkSize);
    }

    @Override
    public Imatrix collected(String dataset) {
        return collectedLater(dataset).get();
    }

    @Override
    public java.util.function.Supplier<Imatrix> collectedLater(String dataset) {
        if (!collecting) throw new IllegalStateException("this session was not opened to collect");
        device.makeCurrent();
        device.synchronize();
        int total = (int) (ws.get("sums").bytes() / 4);
        float[] sums = device.floats(ws.get("sums"), total);
        int[] bad = device.ints(ws.get("bad"), Math.max(1, slots.size() + expertSlots.size()));
        long[] denseCounts = counts.clone();
        Map<ExpertSlot, long[]> expertCounts = new java.util.IdentityHashMap<>();
        for (Object o : entryOrder) {
            if (o instanceof Slot s && bad[s.index()] != Integer.MAX_VALUE) {
                throw new IllegalStateException("non-finite sum of squares in " + s.names().getFirst() + " column "
                        + bad[s.index()] + " (llama-imatrix stops here too)");
            } else if (o instanceof ExpertSlot s) {
                int b = bad[slots.size() + s.badIndex()];
                if (b != Integer.MAX_VALUE) {
                    throw new IllegalStateException("non-finite sum of squares in " + s.names().getFirst() + " column " + b
                            + " (llama-imatrix stops here too)");
                }
                expertCounts.put(s, s.counts().clone());
            }
        }
        return () -> {
            Map<String, ImatrixEntry> delta = new LinkedHashMap<>();
            for (Object o : entryOrder) {
                if (o instanceof Slot s) {
                    if (denseCounts[s.index()] == 0) continue; // never collected: no entry, as on the CPU
                    float[] v = java.util.Arrays.copyOfRange(sums, (int) s.offset(), (int) s.offset() + s.cols());
                    for (String n : s.names()) delta.put(n, new ImatrixEntry(n, v.clone(), new long[] {denseCounts[s.index()]}));
                } else if (o instanceof ExpertSlot s) {
                    long[] c = expertCounts.get(s);
                    if (java.util.Arrays.stream(c).allMatch(n -> n == 0)) continue;
                    int len = s.cols() * s.experts();
                    float[] v = java.util.Arrays.copyOfRange(sums, (int) s.offset(), (int) s.offset() + len);
                    for (String n : s.names()) delta.put(n, new ImatrixEntry(n, v.clone(), c.clone()));
                }
            }
            ImatrixAccumulator merged = new ImatrixAccumulator(chunkSize);
            merged.load(base);
            merged.load(Imatrix.raw(delta, List.of(), 0, chunkSize));
            return merged.snapshot(dataset);
        };
    }

    /** Bytes of weights and of the activation workspace on the GPU. */
    public long[] deviceBytes() { return new long[] {w.bytes, ws.layout().totalBytes()}; }

    /** Where the weights are: resident or which layers stream. */
    WeightPlacement placement() { return w.placement; }

    /** Bytes of weights copied from host memory per batch (0: all resident). */
    public long streamedBytesPerBatch() { return w.stream == null ? 0 : w.stream.bytesPerPass(); }

    /** Layers whose weights stream from host memory (0: all resident). */
    public int streamedLayers() { return w.placement.streamedCount(); }

    @Override
    public void close() {
        if (profile != null) profile.close();
        if (w4a4 != null) w4a4.close();
        if (routeCopied != null) routeCopied.close();
        if (routeHost != null) device.freeHost(routeHost);
        if (hostLogits != null) device.freeHost(hostLogits);
        ws.close();
        w.close();
        gemm.close();
        kernels.close();
        hostArena.close();
        device.close();
    }

    /** Device time per phase, from events recorded at each phase change. */
    private static final class Profile implements AutoCloseable {
        private final CudaDevice device;
        private final List<CudaEvent> events = new ArrayList<>();
        private final List<String> phases = new ArrayList<>();
        private final Map<String, Double> totals = new LinkedHashMap<>();
        private int used;

        Profile(CudaDevice device) { this.device = device; }

        void mark(String phase, CudaStream s) {
            if (used > 0 && phase != null && phase.equals(phases.get(used - 1))) return;
            if (used == events.size()) {
                events.add(device.createEvent());
                phases.add(null);
            }
            events.get(used).record(s);
            phases.set(used, phase);
            used++;
        }

        void collect() {
            for (int i = 1; i < used; i++) {
                String p = phases.get(i - 1);
                if (p != null) totals.merge(p, (double) events.get(i).millisSince(events.get(i - 1)), Double::sum);
            }
            used = 0;
        }

        Map<String, Double> totals() { return Map.copyOf(totals); }

        @Override
        public void close() {
            for (CudaEvent e : events) e.close();
        }
    }
}
