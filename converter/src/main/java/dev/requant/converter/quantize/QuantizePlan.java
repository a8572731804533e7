package dev.requant.converter.quantize;

import dev.requant.formats.gguf.GgufKeys;
import dev.requant.formats.gguf.GgufShards;
import dev.requant.formats.gguf.GgufSplit;
import dev.requant.formats.gguf.GgufSplitWriter;
import dev.requant.formats.gguf.GgufValue;
import java.nio.file.Path;
import dev.requant.formats.gguf.GgufMetadata;
import dev.requant.formats.gguf.GgufTensorSpec;
import java.util.List;

/**
 * A quantization you can print before it runs (--dry-run): every tensor in output order with its input and output
 * type and the rule that chose it, and the output metadata. Made by {@link QuantizePlanner}, run by
 * {@link GgufQuantizer}. It reads the input file (or shards), which the caller keeps open.
 */
public record QuantizePlan(GgufShards input, QuantizeSettings settings, ModelFacts model, GgufMetadata metadata,
                           List<PlannedQuantTensor> tensors, int fallbacks) {
    public QuantizePlan {
        metadata = new GgufMetadata(metadata);
        tensors = List.copyOf(tensors);
    }

    @Override
    public GgufMetadata metadata() { return new GgufMetadata(metadata); }

    /** One output file: its path, its key/values and its tensors in order. */
    public record OutputShard(Path path, GgufMetadata metadata, List<PlannedQuantTensor> tensors) {}

    /**
     * The files this plan writes for output {@code out}: {@code out} itself; with --keep-split one per input shard,
     * named as llama-quantize names them ({@code OUT-00001-of-0000N.gguf}, OUT without a trailing .gguf, even for a
     * single shard), the first with the model's key/values, every one with split.no, split.count and
     * split.tensors.count when there are several.
     */
    public List<OutputShard> outputShards(Path out) {
        return outputShards(out, null);
    }

    /**
     * The same, or with a split limit ({@code --split-max-size} / {@code --split-max-tensors}, not with --keep-split)
     * the shards gguf-split would make of the unsplit output ({@link GgufSplitWriter#plan}): named
     * {@code OUT-00001-of-0000N.gguf} (OUT without a trailing .gguf), even when one shard holds everything.
     */
    public List<OutputShard> outputShards(Path out, GgufSplitWriter.Limit split) {
        if (split != null) {
            if (settings.keepSplit()) throw new IllegalArgumentException("--keep-split and a split limit cannot be used together");
            List<GgufSplitWriter.Shard> planned = GgufSplitWriter.plan(metadata(), outputSpecs(), split, false);
            Path prefix = GgufSplit.outputPrefix(out);
            List<OutputShard> shards = new java.util.ArrayList<>();
            int from = 0;
            for (int i = 0; i < planned.size(); i++) {
                int to = from + planned.get(i).tensors().size();
                shards.add(new OutputShard(GgufSplit.path(prefix, i, planned.size()), planned.get(i).metadata(), tensors.subList(from, to)));
                from = to;
            }
            return shards;
        }
        if (!settings.keepSplit()) return List.of(new OutputShard(out, metadata(), tensors));
        int n = tensors.stream().mapToInt(t -> t.shard() + 1).max().orElse(1);
        Path prefix = GgufSplit.outputPrefix(out);
        List<OutputShard> shards = new java.util.ArrayList<>();
        for (int i = 0; i < n; i++) {
            final int shard = i;
            GgufMetadata m = i == 0 ? metadata() : new GgufMetadata();
            if (n > 1) {
                m.putLast(GgufKeys.Split.NO, GgufValue.u16(i));
                m.putLast(GgufKeys.Split.COUNT, GgufValue.u16(n));
                m.putLast(GgufKeys.Split.TENSORS_COUNT, GgufValue.i32(tensors.size()));
            }
            shards.add(new OutputShard(GgufSplit.path(prefix, i, n), m,
                    tensors.stream().filter(t -> t.shard() == shard).toList()));
        }
        return shards;
    }

    public List<GgufTensorSpec> outputSpecs() {
        return tensors.stream().map(PlannedQuantTensor::output).toList();
    }

    /** The tensors that cannot be written as planned, with why (empty when the plan can run). */
    public List<String> problems() {
        return tensors.stream().filter(t -> t.problem() != null).map(t -> t.name() + ": " + t.problem()).toList();
    }

    /**
     * The first problem as an error that names the file at fault: the imatrix for an entry that does not fit its
     * tensor (the model is fine; the imatrix belongs to another model), else the input model.
     */
    public String firstProblemMessage() {
        PlannedQuantTensor t = tensors.stream().filter(x -> x.problem() != null).findFirst().orElseThrow();
        boolean imatrixAtFault = settings.hasImatrix() && t.problem().equals(t.imatrixNote());
        return imatrixAtFault
                ? settings.imatrix().fileAsGiven() + ": " + t.name() + ": " + t.problem() + " in " + input.path() + " (an imatrix of another model?)"
                : input.path() + ": " + t.name() + ": " + t.problem();
    }

    /** Whether some tensor's target needs an imatrix that was not given (llama.cpp's dry run warns about it). */
    public boolean requiresImatrix() {
        return !settings.hasImatrix() && tensors.stream().anyMatch(t -> t.decision().quantizable() && t.decision().requiresImatrix());
    }

    /**
     * Why this plan cannot run, in one line, or empty: without an imatrix, the first tensor whose type needs one
     * (llama-quantize's preliminary pass stops there too); otherwise the first tensor that cannot be written.
     */
    public java.util.Optional<String> refusal() {
        if (requiresImatrix()) {
            PlannedQuantTensor t = tensors.stream().filter(p -> p.decision().quantizable() && p.decision().requiresImatrix()).findFirst().orElseThrow();
            return java.util.Optional.of(settings.fileType().name() + " needs an importance matrix (--imatrix FILE): " + t.name() + " would be "
                    + t.output().type().ggmlName() + ", which llama.cpp makes only with importance data");
        }
        return problems().stream().findFirst();
    }

    public long inputBytes() { return tensors.stream().mapToLong(t -> t.input().byteSize()).sum(); }

    public long outputBytes() { return tensors.stream().mapToLong(t -> t.output().byteSize()).sum(); }

    public long elements() { return tensors.stream().mapToLong(t -> t.input().spec().elementCount()).sum(); }

    /** Elements that are encoded (not copied), for progress. */
    public long encodedElements() {
        return tensors.stream().filter(t -> !t.copied()).mapToLong(t -> t.input().spec().elementCount()).sum();
    }
}
