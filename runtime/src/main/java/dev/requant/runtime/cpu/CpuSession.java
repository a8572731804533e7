package dev.requant.runtime.cpu;

import dev.requant.formats.model.GemmaArch;
import dev.requant.formats.model.GemmaConfig;
import dev.requant.formats.model.LayerConfig;
import dev.requant.runtime.ActivationObserver;
import dev.requant.runtime.MatMulOverride;
import dev.requant.runtime.model.GemmaWeights;
import dev.requant.runtime.model.LayerWeights;
import dev.requant.runtime.model.WeightTensor;
import java.util.Arrays;
import java.util.function.IntPredicate;

/**
 * One sequence on a {@link CpuModel}: a float32 KV cache of {@code contextSize} positions and the batch forward pass
 * (llama.cpp src/models/gemma3.cpp and gemma4.cpp, step for step; see gemma-conversion.md §6). Tokens are appended at
 * the current position; {@link #clear()} starts over. Not thread-safe; the model's threads do the parallel work.
 */
public final class CpuSession {
    /** Receives the logits of one requested batch row; {@code logits[offset .. offset + n_vocab)} is valid during the call. */
    @FunctionalInterface
    public interface LogitsSink {
        void accept(int batchRow, float[] logits, int offset);
    }

    /** Rows of the LM head computed per block (bounds the logits buffer to this many × n_vocab floats). */
    private static final int OUTPUT_BLOCK = 32;
    /** Rows per parallel item in the row-wise ops. */
    private static final int ROWS_PER_ITEM = 8;

    private final CpuModel model;
    private final GemmaConfig c;
    private final GemmaWeights w;
    private final boolean vec;
    private final MatMul mm;
    private final int contextSize;
    private final float[][] kCache;
    private final float[][] vCache;
    private int position;
    private ActivationObserver observer;
    private MatMulOverride override;
    private float[][] scoreScratch;

    // batch buffers, grown on demand
    private float[] h, x, q, k, v, att, a, gate, up, emb, ple, pleGate, logitsBuf;

    CpuSession(CpuModel model, int contextSize) {
        if (contextSize < 1) throw new IllegalArgumentException("context size must be positive");
        this.model = model;
        this.c = model.config();
        this.w = model.weights();
        this.vec = model.vector();
        this.mm = model.matMul();
        this.contextSize = contextSize;
        kCache = new float[c.nLayer()][];
        vCache = new float[c.nLayer()][];
        for (LayerConfig l : c.layers()) {
            if (l.hasKv()) {
                kCache[l.index()] = new float[Math.multiplyExact(contextSize, l.kvDim())];
                vCache[l.index()] = new float[Math.multiplyExact(contextSize, l.kvDim())];
            }
        }
        scoreScratch = new float[model.threads().size()][];
        for (LayerConfig l : c.layers()) model.rope(l.index()).ensure(contextSize);
    }

    public GemmaConfig config() { return c; }

    public int contextSize() { return contextSize; }

    /** The position the next token gets (tokens processed since the last clear). */
    public int position() { return position; }

    /** Forgets the sequence (the KV cache contents become unreachable). */
    public void clear() { position = 0; }

    /** Sets the observer of matrix-multiplication inputs (null: none). See {@link ActivationObserver}. */
    public void setObserver(ActivationObserver observer) { this.observer = observer; }

    /** Sets what computes chosen dense products instead of the CPU kernels (null: none). See {@link MatMulOverride}. */
    public void setMatMulOverride(MatMulOverride override) { this.override = override; }

    /** Runs the tokens and returns the logits of every one of them, row-major {@code [n x n_vocab]}. */
    public float[] logits(int[] tokens) {
        int nv = c.nVocab();
        float[] out = new float[Math.multiplyExact(tokens.length, nv)];
        decode(tokens, 0, tokens.length, r -> true, (row, l, off) -> System.arraycopy(l, off, out, row * nv, nv));
        return out;
    }

    /**
     * Appends {@code n} tokens at the current position (one batch, one sequence) and calls {@code sink} for every batch
     * row {@code r} with {@code wantLogits.test(r)}, in ascending order.
     */
    public void decode(int[] tokens, int off, int n, IntPredicate wantLogits, LogitsSink sink) {
        if (n <= 0) return;
        checkBatch(tokens, off, n);
        int[] outRows = java.util.stream.IntStream.range(0, n).filter(wantLogits).toArray();
        int p0 = position;
        forward(tokens, off, n, p0, outRows, sink);
        position += n;
    }

    /** A batch must fit the context left and hold only ids of the vocabulary. */
    private void checkBatch(int[] tokens, int off, int n) {
        if (position + n > contextSize) {
            throw new IllegalArgumentException("batch of " + n + " at position " + position + " exceeds the context of " + contextSize);
        }
        for (int i = 0; i < n; i++) {
            int t = tokens[off + i];
            if (t < 0 || t >= c.nVocab()) throw new IllegalArgumentException("token id " + t + " is outside the vocabulary of " + c.nVocab());
        }
    }

    /**
     * Appends {@code n} tokens like {@link #decode} with every row carried through every layer, but computes no
     * logits: the pass importance-matrix collection needs (llama-imatrix requests every row's output, so the last
     * layer keeps all rows; the observer still sees the LM head's input when it asks for it).
     */
    public void observe(int[] tokens, int off, int n) {
        if (n <= 0) return;
        checkBatch(tokens, off, n);
        forward(tokens, off, n, position, java.util.stream.IntStream.range(0, n).toArray(), null);
        position += n;
    }

    private void ensureBuffers(int T) {
        int maxQ = 0, maxKv = 0, maxFf = 0;
        for (LayerConfig l : c.layers()) {
            maxQ = Math.max(maxQ, l.qDim());
            maxKv = Math.max(maxKv, l.kvDim());
            maxFf = Math.max(maxFf, l.nFf());
        }
        if (c.nExpert() > 0) maxFf = Math.max(maxFf, 2 * c.expertFf());
        int e = c.nEmbd();
        h = grow(h, T * e);
        x = grow(x, T * e);
        a = grow(a, T * Math.max(e, c.nExpert()));
        q = grow(q, T * maxQ);
        att = grow(att, T * maxQ);
        k = grow(k, T * maxKv);
        v = grow(v, T * maxKv);
        gate = grow(gate, T * maxFf);
        up = grow(up, T * maxFf);
        if (c.hasPerLayerInputs()) {
            emb = grow(emb, T * e);
            ple = grow(ple, T * c.perLayerInputDim() * c.nLayer());
            pleGate = grow(pleGate, T * c.perLayerInputDim());
        }
    }

    private static float[] grow(float[] a, int n) {
        return a != null && a.length >= n ? a : new float[n];
    }

    private void observe(String name, float[] rows, int nRows, int cols) {
        if (observer != null && nRows > 0) observer.onMatMul(name, rows, nRows, cols);
    }

    /** observe, then y = x·Wᵀ. */
    private void linear(WeightTensor wt, float[] in, int nRows, float[] out) {
        observe(wt.name(), in, nRows, wt.cols());
        if (override != null && nRows > 0 && override.multiply(wt, in, nRows, out)) return;
        mm.multiply(wt, 0, in, 0, wt.cols(), nRows, out, 0, wt.rows());
    }

    private void forward(int[] tokens, int off, int T, int p0, int[] outRows, LogitsSink sink) {
        ensureBuffers(T);
        int E = c.nEmbd();
        float eps = c.rmsEps();

        // token embeddings · sqrtf(n_embd) (get_rows + ggml_scale)
        float embScale = model.embeddingScale(c.nEmbd());
        WeightTensor te = w.tokenEmbd();
        RowDecoders.RowDecoder teDec = decoder(te);
        parallelRows(T, (worker, t) -> {
            teDec.decode(te.data(), te.rowOffset(0, tokens[off + t]), h, t * E, E);
            for (int i = 0; i < E; i++) h[t * E + i] *= embScale;
        });
        if (c.hasPerLayerInputs()) {
            System.arraycopy(h, 0, emb, 0, T * E);
            perLayerTokenInputs(tokens, off, T);
        }

        int nRows = T; // rows still carried (the last layer keeps only the output rows)
        for (int li = 0; li < c.nLayer(); li++) {
            LayerConfig lc = c.layer(li);
            LayerWeights lw = w.layer(li);
            boolean last = li == c.nLayer() - 1;
            nRows = attentionBlock(lc, lw, T, p0, last ? outRows : null);
            ffnBlock(lw, nRows);
            if (c.hasPerLayerInputs()) perLayerBlock(li, lw, nRows, T);
            if (!Float.isNaN(lw.layerOutputScale())) {
                float s = lw.layerOutputScale();
                for (int i = 0; i < nRows * E; i++) h[i] *= s;
            }
        }

        // output norm, LM head, softcap, suppressed tokens
        int nOut = nRows;
        if (sink == null && (observer == null || !observer.observeOutput())) return;
        parallelRows(nOut, (worker, t) -> Ops.rmsNorm(h, t * E, w.outputNorm(), x, t * E, E, eps, vec));
        WeightTensor out = w.output();
        if (observer != null && observer.observeOutput()) observer.onMatMul(out.name(), x, nOut, E);
        if (sink == null) return; // observe(): no LM head
        int nv = c.nVocab();
        int[] suppress = c.suppressTokens();
        float cap = c.finalLogitSoftcap();
        for (int r0 = 0; r0 < nOut; r0 += OUTPUT_BLOCK) {
            int nb = Math.min(OUTPUT_BLOCK, nOut - r0);
            logitsBuf = grow(logitsBuf, nb * nv);
            float[] lb = logitsBuf;
            mm.multiply(out, 0, x, r0 * E, E, nb, lb, 0, nv);
            if (cap > 0f) parallelRows(nb, (worker, r) -> Ops.softcap(lb, r * nv, nv, cap, vec));
            for (int r = 0; r < nb; r++) {
                int o = r * nv;
                for (int s : suppress) if (s >= 0 && s < nv) lb[o + s] = Float.NEGATIVE_INFINITY;
                sink.accept(outRows[r0 + r], lb, o);
            }
        }
    }

    /**
     * Attention sub-block of layer {@code lc}: h += rmsnorm(Wo·attn(q, K, V), post_attention_norm). For the last layer
     * with {@code keep != null}, the rows are then reduced to {@code keep} (llama.cpp's inp_out_ids get_rows).
     * Returns the number of rows carried on.
     */
    private int attentionBlock(LayerConfig lc, LayerWeights lw, int T, int p0, int[] keep) {
        int E = c.nEmbd();
        float eps = c.rmsEps();
        int hd = lc.headDim(), nHead = lc.nHead(), nKv = lc.nHeadKv();
        int qDim = lc.qDim(), kvDim = lc.kvDim();
        boolean g4 = c.arch() == GemmaArch.GEMMA4;

        parallelRows(T, (worker, t) -> Ops.rmsNorm(h, t * E, lw.attnNorm(), x, t * E, E, eps, vec));
        linear(lw.attnQ(), x, T, q);
        if (lc.hasKv()) {
            linear(lw.attnK(), x, T, k);
            if (lw.attnV() != null) linear(lw.attnV(), x, T, v);
            else System.arraycopy(k, 0, v, 0, T * kvDim); // k_eq_v: V is the raw K projection
        }
        Rope rope = model.rope(lc.index());
        float attnScale = lc.attnScale();
        parallelRows(T, (worker, t) -> {
            int pos = p0 + t;
            for (int hh = 0; hh < nHead; hh++) {
                int o = t * qDim + hh * hd;
                Ops.rmsNorm(q, o, lw.attnQNorm(), q, o, hd, eps, vec);
                rope.apply(q, o, pos);
                if (attnScale != 1f) for (int i = 0; i < hd; i++) q[o + i] *= attnScale;
            }
            if (lc.hasKv()) {
                float[] kc = kCache[lc.index()], vc = vCache[lc.index()];
                for (int g = 0; g < nKv; g++) {
                    int o = t * kvDim + g * hd;
                    Ops.rmsNorm(k, o, lw.attnKNorm(), k, o, hd, eps, vec);
                    rope.apply(k, o, pos);
                    if (g4) Ops.rmsNorm(v, o, null, v, o, hd, eps, vec); // Gemma 4 V-norm (no weight)
                }
                System.arraycopy(k, t * kvDim, kc, pos * kvDim, kvDim);
                System.arraycopy(v, t * kvDim, vc, pos * kvDim, kvDim);
            }
        });

        attention(lc, T, p0);

        int nRows = T;
        if (keep != null && keep.length < T) {
            // only the requested rows continue past the last layer's attention
            for (int r = 0; r < keep.length; r++) {
                int src = keep[r];
                if (src != r) {
                    System.arraycopy(att, src * qDim, att, r * qDim, qDim);
                    System.arraycopy(h, src * E, h, r * E, E);
                    if (c.hasPerLayerInputs()) {
                        int pw = c.perLayerInputDim() * c.nLayer();
                        System.arraycopy(ple, src * pw, ple, r * pw, pw);
                        System.arraycopy(emb, src * E, emb, r * E, E);
                    }
                }
            }
            nRows = keep.length;
        }
        if (nRows == 0) return 0;
        linear(lw.attnOutput(), att, nRows, a);
        parallelRows(nRows, (worker, t) -> {
            Ops.rmsNorm(a, t * E, lw.postAttentionNorm(), a, t * E, E, eps, vec);
            for (int i = 0; i < E; i++) h[t * E + i] += a[t * E + i];
        });
        return nRows;
    }

    /**
     * Causal (and, for sliding layers, windowed) attention of the batch's queries over the layer's KV cache:
     * softmax(q·Kᵀ + mask)·V per head, GQA head h reading KV head h / (n_head / n_head_kv). The query at position p
     * sees keys j ≤ p, and on sliding layers only p - j < n_swa (llama_hparams::is_masked_swa).
     */
    private void attention(LayerConfig lc, int T, int p0) {
        int hd = lc.headDim(), nHead = lc.nHead(), kvDim = lc.kvDim();
        int group = nHead / lc.nHeadKv();
        int qDim = lc.qDim();
        float[] kc = kCache[lc.kvLayer()], vc = vCache[lc.kvLayer()];
        boolean swa = lc.slidingWindow() && c.slidingWindow() > 0;
        int nSwa = c.slidingWindow();
        model.threads().parallelFor(T * nHead, (worker, item) -> {
            int t = item / nHead, hh = item % nHead;
            int pos = p0 + t;
            int lo = swa ? Math.max(0, pos - nSwa + 1) : 0;
            int n = pos - lo + 1;
            float[] s = scoreScratch[worker];
            if (s == null || s.length < n) scoreScratch[worker] = s = new float[Math.max(n, contextSize)];
            int qo = t * qDim + hh * hd;
            int ko = (hh / group) * hd;
            for (int j = 0; j < n; j++) {
                int kr = (lo + j) * kvDim + ko;
                s[j] = vec ? PanelGemm.dot(q, qo, kc, kr, hd) : PanelGemm.referenceDot(q, qo, kc, kr, hd);
            }
            Ops.softmax(s, 0, n, vec);
            Arrays.fill(att, qo, qo + hd, 0f);
            for (int j = 0; j < n; j++) Ops.axpy(s[j], vc, (lo + j) * kvDim + ko, att, qo, hd, vec);
        });
    }

    /** FFN sub-block: h += rmsnorm(FFN(rmsnorm(h, ffn_norm)), post_ffw_norm); MoE layers add the expert block. */
    private void ffnBlock(LayerWeights lw, int nRows) {
        if (nRows == 0) return;
        int E = c.nEmbd();
        float eps = c.rmsEps();
        parallelRows(nRows, (worker, t) -> Ops.rmsNorm(h, t * E, lw.ffnNorm(), x, t * E, E, eps, vec));
        denseFfn(lw.ffnGate(), lw.ffnUp(), lw.ffnDown(), x, nRows, a);
        if (lw.hasMoe()) {
            float[] shared = Arrays.copyOf(a, nRows * E);
            parallelRows(nRows, (worker, t) -> Ops.rmsNorm(shared, t * E, lw.moe().postFfwNorm1(), shared, t * E, E, eps, vec));
            float[] moeOut = new MoeBlock(this).run(lw.moe(), nRows);
            parallelRows(nRows, (worker, t) -> {
                Ops.rmsNorm(moeOut, t * E, lw.moe().postFfwNorm2(), moeOut, t * E, E, eps, vec);
                for (int i = 0; i < E; i++) a[t * E + i] = shared[t * E + i] + moeOut[t * E + i];
            });
        }
        parallelRows(nRows, (worker, t) -> {
            Ops.rmsNorm(a, t * E, lw.postFfwNorm(), a, t * E, E, eps, vec);
            for (int i = 0; i < E; i++) h[t * E + i] += a[t * E + i];
        });
    }

    /** out = down(gelu(gate·in) ⊙ up·in) (build_ffn, LLM_FFN_GELU + LLM_FFN_PAR); observer order gate, up, down. */
    private void denseFfn(WeightTensor wGate, WeightTensor wUp, WeightTensor wDown, float[] in, int nRows, float[] out) {
        int ff = wGate.rows();
        linear(wGate, in, nRows, gate);
        linear(wUp, in, nRows, up);
        parallelRows(nRows, (worker, t) -> Ops.geluMul(gate, t * ff, up, t * ff, ff, vec));
        linear(wDown, gate, nRows, out);
    }

    /** Gemma 4 per-layer input tokens: per_layer_token_embd[tok] · sqrt(ple) into {@code ple} ([T x n_layer*ple]). */
    private void perLayerTokenInputs(int[] tokens, int off, int T) {
        int pw = c.perLayerInputDim() * c.nLayer();
        WeightTensor pe = w.perLayerTokenEmbd();
        RowDecoders.RowDecoder dec = decoder(pe);
        float scale = model.embeddingScale(c.perLayerInputDim());
        parallelRows(T, (worker, t) -> {
            dec.decode(pe.data(), pe.rowOffset(0, tokens[off + t]), ple, t * pw, pw);
            for (int i = 0; i < pw; i++) ple[t * pw + i] *= scale;
        });
    }

    /**
     * Gemma 4 PLE sub-block of layer li: h += rmsnorm(proj · (gelu(inp_gate · h) ⊙ P[li]), post_norm). In layer 0
     * the per-layer inputs P are completed first (project_per_layer_inputs), where ggml's graph order runs them.
     */
    private void perLayerBlock(int li, LayerWeights lw, int nRows, int T) {
        if (nRows == 0) return;
        int E = c.nEmbd(), pd = c.perLayerInputDim(), L = c.nLayer(), pw = pd * L;
        float eps = c.rmsEps();
        linear(lw.inpGate(), h, nRows, pleGate);
        if (li == 0) {
            // P = (rmsnorm(per_layer_model_proj · emb / sqrt(n_embd), per_layer_proj_norm) + tokple) / sqrt(2), over
            // every row of the batch (layer 0 carries all rows unless the model has a single layer)
            float[] proj = new float[nRows * pw];
            linear(w.perLayerModelProj(), emb, nRows, proj);
            float projScale = 1f / (float) Math.sqrt(E);
            float inputScale = 1f / (float) Math.sqrt(2f);
            parallelRows(nRows, (worker, t) -> {
                for (int l = 0; l < L; l++) {
                    int o = t * pw + l * pd;
                    for (int i = 0; i < pd; i++) proj[o + i] *= projScale;
                    Ops.rmsNorm(proj, o, w.perLayerProjNorm(), proj, o, pd, eps, vec);
                    for (int i = 0; i < pd; i++) ple[o + i] = (proj[o + i] + ple[o + i]) * inputScale;
                }
            });
        }
        parallelRows(nRows, (worker, t) -> Ops.geluMul(pleGate, t * pd, ple, t * pw + li * pd, pd, vec));
        linear(lw.proj(), pleGate, nRows, a);
        parallelRows(nRows, (worker, t) -> {
            Ops.rmsNorm(a, t * E, lw.postNorm(), a, t * E, E, eps, vec);
            for (int i = 0; i < E; i++) h[t * E + i] += a[t * E + i];
        });
    }

    RowDecoders.RowDecoder decoder(WeightTensor t) {
        return vec ? RowDecoders.fast(t.type()) : RowDecoders.scalar(t.type());
    }

    void parallelRows(int nRows, CpuThreads.Body body) {
        int items = (nRows + ROWS_PER_ITEM - 1) / ROWS_PER_ITEM;
        model.threads().parallelFor(items, (worker, item) -> {
            int r1 = Math.min(nRows, (item + 1) * ROWS_PER_ITEM);
            for (int r = item * ROWS_PER_ITEM; r < r1; r++) body.run(worker, r);
        });
    }

    // accessors for MoeBlock
    CpuModel model() { return model; }
    MatMul matMul() { return mm; }
    boolean vector() { return vec; }
    float[] hidden() { return h; }
    ActivationObserver observer() { return observer; }
    void denseFfnInto(WeightTensor g, WeightTensor u, WeightTensor d, float[] in, int nRows, float[] out) {
        denseFfn(g, u, d, in, nRows, out);
    }
}
