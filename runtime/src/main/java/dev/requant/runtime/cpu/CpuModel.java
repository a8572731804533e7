package dev.requant.runtime.cpu;

import dev.requant.formats.FormatException;
import dev.requant.formats.model.GemmaConfig;
import dev.requant.formats.model.LayerConfig;
import dev.requant.formats.model.ModelSource;
import dev.requant.runtime.model.GemmaWeights;
import java.util.HashMap;
import java.util.Map;

/**
 * A Gemma model ready to run on the CPU: its config, its weights (views of the {@link ModelSource}, which must stay
 * open), a thread team and the RoPE tables. Sessions ({@link #newSession}) hold the KV cache and run batches; a model
 * runs one session's batch at a time.
 */
public final class CpuModel implements AutoCloseable {
    private final GemmaConfig config;
    private final GemmaWeights weights;
    private final CpuThreads threads;
    private final boolean ownsThreads;
    private final boolean vector;
    private final MatMul matMul;
    private final Rope[] ropes;
    private final Numerics numerics;

    /**
     * @param vector Vector API kernels (true) or the scalar references (false: slow, for tests)
     */
    public CpuModel(GemmaConfig config, GemmaWeights weights, CpuThreads threads, boolean ownsThreads, boolean vector) {
        this(config, weights, threads, ownsThreads, vector, Numerics.LLAMA_CPP);
    }

    /**
     * @param numerics {@link Numerics#LLAMA_CPP} for llama.cpp semantics; the other mode reproduces a
     *     transformers artifact for comparisons with its logits
     */
    public CpuModel(GemmaConfig config, GemmaWeights weights, CpuThreads threads, boolean ownsThreads, boolean vector,
            Numerics numerics) {
        this.config = config;
        this.weights = weights;
        this.threads = threads;
        this.ownsThreads = ownsThreads;
        this.vector = vector;
        this.matMul = new MatMul(threads, vector);
        this.numerics = numerics;
        Map<String, Rope> byKey = new HashMap<>();
        ropes = new Rope[config.nLayer()];
        for (LayerConfig l : config.layers()) {
            float[] ff = l.ropeFreqFactors() ? weights.ropeFreqs() : null;
            String key = l.nRot() + "/" + l.ropeBase() + "/" + l.ropeFreqScale() + "/" + (ff != null);
            ropes[l.index()] = byKey.computeIfAbsent(key, k -> new Rope(l.nRot(), l.ropeBase(), l.ropeFreqScale(), ff, numerics));
        }
    }

    /** Reads config and weights from the source and starts {@code threads} threads. */
    public static CpuModel load(ModelSource source, int threads) throws FormatException {
        GemmaConfig config = GemmaConfig.of(source);
        GemmaWeights weights = GemmaWeights.load(source, config);
        return new CpuModel(config, weights, new CpuThreads(threads), true, true);
    }

    public GemmaConfig config() { return config; }

    public GemmaWeights weights() { return weights; }

    public CpuThreads threads() { return threads; }

    boolean vector() { return vector; }

    public Numerics numerics() { return numerics; }

    /** An embedding scale sqrtf(n) under this model's numerics. */
    float embeddingScale(int n) {
        float s = (float) Math.sqrt(n);
        return numerics == Numerics.TRANSFORMERS_BF16_BUFFERS ? dev.requant.formats.ggml.BFloat16.round(s) : s;
    }

    MatMul matMul() { return matMul; }

    Rope rope(int layer) { return ropes[layer]; }

    /** A session with room for {@code contextSize} positions. */
    public CpuSession newSession(int contextSize) {
        return new CpuSession(this, contextSize);
    }

    @Override
    public void close() {
        if (ownsThreads) threads.close();
    }
}
