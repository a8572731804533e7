package dev.requant.converter;

import dev.requant.formats.gguf.FileType;
import dev.requant.formats.ggml.TensorEncoder;
import dev.requant.formats.gguf.GgufMetadata;
import dev.requant.formats.gguf.GgufTensorSpec;
import dev.requant.formats.model.ModelSource;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.NoSuchElementException;
import java.util.Optional;
import java.util.concurrent.ConcurrentHashMap;

/**
 * A Hugging Face folder viewed as the GGUF a conversion would write, without writing it: the metadata and the
 * GGUF-named tensors of the plan. Tensors whose checkpoint bytes already are their GGUF type (the BF16 weights of a
 * BF16 checkpoint) are slices of the safetensors mapping; the others (Gemma 3 norms + 1 as F32, rope_freqs, layer
 * scalars, anything converted) are computed on first use and kept until close.
 *
 * <pre>{@code
 * try (HfModelSource m = HfModelSource.open(Path.of("gemma-3-1b-it"))) {   // as --type bf16 writes it
 *     GgufMetadata md = m.metadata();
 *     MemorySegment q = m.data("blk.0.attn_q.weight");                   // BF16 bytes, ne = {in, out}
 * }
 * }</pre>
 */
public final class HfModelSource implements ModelSource {
    private final ConversionPlan plan;
    private final GgufMetadata metadata;
    private final List<GgufTensorSpec> specs;
    private final Map<String, PlannedTensor> byName = new LinkedHashMap<>();
    private final Map<String, MemorySegment> computed = new ConcurrentHashMap<>();
    private final Arena arena = Arena.ofShared();

    private HfModelSource(ConversionPlan plan) {
        this.plan = plan;
        this.metadata = plan.metadata();
        this.specs = plan.specs();
        for (PlannedTensor t : plan.tensors()) byName.put(t.ggufName(), t);
    }

    /** The folder as the BF16 conversion ({@code requant convert --type bf16}) would write it. */
    public static HfModelSource open(Path dir) throws IOException {
        return open(dir, ConversionSettings.of(FileType.BF16));
    }

    public static HfModelSource open(Path dir, ConversionSettings settings) throws IOException {
        return new HfModelSource(GemmaPlanner.plan(dir, settings));
    }

    public static HfModelSource of(ConversionPlan plan) {
        return new HfModelSource(plan);
    }

    public ConversionPlan plan() { return plan; }

    @Override public Path path() { return plan.config().dir(); }

    @Override public GgufMetadata metadata() { return metadata; }

    @Override public List<GgufTensorSpec> tensors() { return specs; }

    @Override
    public Optional<GgufTensorSpec> tensor(String name) {
        PlannedTensor t = byName.get(name);
        return t == null ? Optional.empty() : Optional.of(t.spec());
    }

    @Override
    public MemorySegment data(String name) {
        PlannedTensor t = byName.get(name);
        if (t == null) throw new NoSuchElementException(path() + ": no tensor '" + name + "'");
        if (t.decision().encoder() == null) {
            Optional<MemorySegment> stored = t.recipe().stored(t.decision().type());
            if (stored.isPresent()) return stored.get();
        }
        return computed.computeIfAbsent(name, n -> compute(t));
    }

    private MemorySegment compute(PlannedTensor t) {
        MemorySegment out;
        synchronized (arena) {
            out = arena.allocate(Math.max(1, t.spec().byteSize()), 64);
        }
        long[] pos = {0};
        try (TensorEncoder encoder = new TensorEncoder(1)) {
            GgufConversion.encode(t, encoder, bytes -> {
                long n = bytes.remaining();
                MemorySegment.copy(MemorySegment.ofBuffer(bytes), 0, out, pos[0], n);
                pos[0] += n;
            });
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
        return out.asSlice(0, t.spec().byteSize()).asReadOnly();
    }

    @Override
    public void close() {
        arena.close();
        plan.close();
    }
}
