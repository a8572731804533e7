package dev.requant.converter;

import dev.requant.formats.gguf.GgufMetadata;
import dev.requant.formats.gguf.GgufTensorSpec;
import dev.requant.formats.safetensors.SafetensorsCheckpoint;
import java.util.List;
import java.util.Optional;

/**
 * A conversion you can print before it runs: every GGUF tensor with its source tensors, transform, dims, type and the
 * rule that chose the type, plus the GGUF metadata. It holds the checkpoint's mappings open until closed.
 */
public final class ConversionPlan implements AutoCloseable {
    private final HfConfig config;
    private final ConversionSettings settings;
    private final List<PlannedTensor> tensors;
    private final List<String> dropped;
    private final GgufMetadata metadata;
    private final SafetensorsCheckpoint checkpoint;
    private final Vocabulary vocabulary;

    ConversionPlan(HfConfig config, ConversionSettings settings, List<PlannedTensor> tensors, List<String> dropped,
                   GgufMetadata metadata, SafetensorsCheckpoint checkpoint, Vocabulary vocabulary) {
        this.config = config;
        this.settings = settings;
        this.tensors = List.copyOf(tensors);
        this.dropped = List.copyOf(dropped);
        this.metadata = metadata;
        this.checkpoint = checkpoint;
        this.vocabulary = vocabulary;
    }

    public HfConfig config() { return config; }

    /** The settings with AUTO resolved. */
    public ConversionSettings settings() { return settings; }

    public List<PlannedTensor> tensors() { return tensors; }

    public Optional<PlannedTensor> tensor(String ggufName) {
        return tensors.stream().filter(t -> t.ggufName().equals(ggufName)).findFirst();
    }

    public List<GgufTensorSpec> specs() {
        return tensors.stream().map(PlannedTensor::spec).toList();
    }

    /** Checkpoint tensors left out of the text GGUF (vision/audio towers, projectors). */
    public List<String> dropped() { return dropped; }

    /** The GGUF metadata in write order (a copy each time). */
    public GgufMetadata metadata() { return new GgufMetadata(metadata); }

    public Vocabulary vocabulary() { return vocabulary; }

    public SafetensorsCheckpoint checkpoint() { return checkpoint; }

    /** Bytes of the tensor data section (without padding). */
    public long dataBytes() {
        long n = 0;
        for (PlannedTensor t : tensors) n += t.spec().byteSize();
        return n;
    }

    @Override
    public void close() {
        checkpoint.close();
    }
}
