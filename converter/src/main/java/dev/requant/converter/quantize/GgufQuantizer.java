package dev.requant.converter.quantize;

import dev.requant.formats.ggml.BlockCodec;
import dev.requant.formats.ggml.FiniteCheck;
import dev.requant.formats.ggml.GgmlType;
import dev.requant.formats.ggml.RowSource;
import dev.requant.formats.ggml.TensorEncoder;
import dev.requant.formats.ggml.VectorSupport;
import dev.requant.converter.quantize.search.ExhaustiveCodecs;
import dev.requant.formats.gguf.GgufFile;
import dev.requant.formats.gguf.GgufSplitWriter;
import dev.requant.formats.gguf.GgufWriter;
import java.io.IOException;
import java.lang.foreign.MemorySegment;
import java.nio.ByteBuffer;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

/**
 * Runs a {@link QuantizePlan}: writes the header, then each tensor in plan order, copied when its type stays and
 * otherwise widened to float32 and encoded row by row on {@link TensorEncoder}'s threads. Input data is validated as
 * llama.cpp's loader does (no NaN/Inf in float data, no bad block scales) and encoded blocks as its quantizer does
 * (no NaN/Inf fp16 scales). The output appears under its name only when every tensor is written.
 */
public final class GgufQuantizer {
    /** Told about progress: elements encoded or copied so far, of {@link QuantizePlan#elements()}. */
    @FunctionalInterface
    public interface Progress {
        void elementsDone(long elements, PlannedQuantTensor current);

        Progress NONE = (e, t) -> {};
    }

    private GgufQuantizer() {}

    public static void write(QuantizePlan plan, Path out, Progress progress) throws IOException {
        write(plan, out, progress, null);
    }

    /**
     * @param codecs the encoder per output type, or null for the settings' scale search ({@link BlockCodec#of} by
     *     default): lets a caller reproduce files of other llama.cpp builds ({@link BlockCodec#iq1mBeforePrefixSums})
     */
    public static void write(QuantizePlan plan, Path out, Progress progress, java.util.function.Function<GgmlType, BlockCodec> codecs)
            throws IOException {
        write(plan, out, null, progress, codecs);
    }

    /**
     * @param split null for one file (or --keep-split's shards), else gguf-split's shards of the output
     *     ({@link QuantizePlan#outputShards(Path, GgufSplitWriter.Limit)})
     */
    public static void write(QuantizePlan plan, Path out, GgufSplitWriter.Limit split, Progress progress,
            java.util.function.Function<GgmlType, BlockCodec> codecs) throws IOException {
        java.util.function.Function<GgmlType, BlockCodec> byType = codecs != null ? codecs : codecsFor(plan.settings().search());
        writePerTensor(plan, out, split, progress, t -> byType.apply(t.output().type()));
    }

    /** As {@link #writePerTensor(QuantizePlan, Path, GgufSplitWriter.Limit, Progress, java.util.function.Function)}, one file. */
    public static void writePerTensor(QuantizePlan plan, Path out, Progress progress,
            java.util.function.Function<PlannedQuantTensor, BlockCodec> codecChoice) throws IOException {
        writePerTensor(plan, out, null, progress, codecChoice);
    }

    /**
     * As {@link #write(QuantizePlan, Path, GgufSplitWriter.Limit, Progress, java.util.function.Function)} with an
     * encoder chosen per tensor: a mix writes some Q4_0 tensors through lattice recovery and the others with
     * llama.cpp's encoder.
     */
    public static void writePerTensor(QuantizePlan plan, Path out, GgufSplitWriter.Limit split, Progress progress,
            java.util.function.Function<PlannedQuantTensor, BlockCodec> codecChoice) throws IOException {
        if (plan.requiresImatrix()) throw new QuantizeException(plan.input().path() + ": " + plan.refusal().orElseThrow());
        // a tensor that cannot be written: named with the file at fault (the imatrix when its entry does not fit)
        if (!plan.problems().isEmpty()) throw new QuantizeException(plan.firstProblemMessage());
        List<QuantizePlan.OutputShard> shards = plan.outputShards(out, split);
        for (QuantizePlan.OutputShard o : shards) {
            for (GgufFile f : plan.input().files()) {
                if (Files.exists(o.path()) && Files.isSameFile(f.path(), o.path())) {
                    throw new QuantizeException("input and output files are the same: '" + o.path() + "'");
                }
            }
        }
        QuantizeSettings s = plan.settings();
        expectWork(shards);
        List<GgufWriter> writers = new ArrayList<>();
        try (TensorEncoder encoder = new TensorEncoder(s.threads())) {
            long done = 0;
            // every shard is written before any is renamed into place, so a failure leaves none of them
            for (QuantizePlan.OutputShard o : shards) {
                GgufWriter w = GgufWriter.create(o.path(), o.metadata(), o.tensors().stream().map(PlannedQuantTensor::output).toList());
                writers.add(w);
                for (PlannedQuantTensor t : o.tensors()) {
                    GgufFile in = plan.input().files().get(t.shard());
                    MemorySegment data = in.tensorData(t.input());
                    long elements = t.input().spec().elementCount();
                    if (t.copied()) {
                        checkInput(in, t, data);
                        w.writeTensor(t.name(), data);
                    } else {
                        encode(in, t, data, encoder, w, codecChoice, done, progress);
                    }
                    done += elements;
                    progress.elementsDone(done, t);
                }
            }
            // the first shard last: an interrupted commit never leaves a first shard pointing to missing ones
            for (int i = writers.size() - 1; i >= 0; i--) writers.get(i).commit();
        } finally {
            for (GgufWriter w : writers) w.close();
        }
    }

    /** Tells the encoders how many weights of each type this file will encode (whether compiling a vector kernel pays). */
    private static void expectWork(List<QuantizePlan.OutputShard> shards) {
        List<PlannedQuantTensor> tensors = new ArrayList<>();
        for (QuantizePlan.OutputShard o : shards) tensors.addAll(o.tensors());
        forEachWork(tensors, VectorSupport::expectWork);
    }

    /**
     * Whether some type of the plan has enough weights for a Vector API encoder to pay ({@link VectorSupport#pays}):
     * a JVM started without the module hands such a quantization over to one with it.
     */
    public static boolean vectorApiPays(QuantizePlan plan) {
        boolean[] pays = {false};
        forEachWork(plan.tensors(), (type, weighted, n) -> pays[0] |= VectorSupport.pays(type, weighted, n));
        return pays[0];
    }

    private interface Work {
        void accept(GgmlType type, boolean weighted, long weights);
    }

    /** The weights to encode per output type, with importance weights and without, in that order of types. */
    private static void forEachWork(List<PlannedQuantTensor> tensors, Work work) {
        java.util.Map<GgmlType, Long> plain = new java.util.EnumMap<>(GgmlType.class);
        java.util.Map<GgmlType, Long> weighted = new java.util.EnumMap<>(GgmlType.class);
        for (PlannedQuantTensor t : tensors) {
            if (!t.copied()) (t.importance() != null ? weighted : plain).merge(t.output().type(), t.input().spec().elementCount(), Long::sum);
        }
        plain.forEach((type, n) -> work.accept(type, false, n));
        weighted.forEach((type, n) -> work.accept(type, true, n));
    }

    private static void checkInput(GgufFile in, PlannedQuantTensor t, MemorySegment data) throws QuantizeException {
        long bad = RowDataCheck.firstInvalid(t.input().type(), data, 0, data.byteSize());
        if (bad >= 0) {
            throw new QuantizeException(in.path() + ": tensor '" + t.name() + "' has invalid data (" + t.input().type().ggmlName()
                    + (t.input().type().quantized() ? " block " : " element ") + bad + " is NaN or infinite)");
        }
    }

    private static java.util.function.Function<GgmlType, BlockCodec> codecsFor(ScaleSearch search) {
        return search == ScaleSearch.EXHAUSTIVE ? ExhaustiveCodecs::forType : BlockCodec::of;
    }

    private static void encode(GgufFile in, PlannedQuantTensor t, MemorySegment data, TensorEncoder encoder, GgufWriter w,
            java.util.function.Function<PlannedQuantTensor, BlockCodec> codecs, long doneBefore, Progress progress) throws IOException {
        GgmlType src = t.input().type();
        GgmlType dst = t.output().type();
        int n = Math.toIntExact(t.input().spec().rowLength());
        long rows = t.input().spec().rows();
        if (src.quantized()) checkInput(in, t, data); // dequantized inputs: their scales; float inputs: checked as read
        RowSource rowsIn = src.quantized() ? RowSource.of(data, src, n, rows)
                : new CheckedRows(data, src, n, rows, in.path() + ": tensor '" + t.name() + "'");
        BlockCodec codec = codecs.apply(t);
        long rowBytes = dst.rowBytes(n);
        long[] chunkRow = {0};
        try (GgufWriter.TensorSink sink = w.beginTensor(t.name())) {
            encodeRows(encoder, rowsIn, codec, t, sink, chunkRow, rowBytes, n, in, dst, doneBefore, progress);
        } catch (CheckedRows.InvalidData e) {
            throw new QuantizeException(e.getMessage());
        }
    }

    private static void encodeRows(TensorEncoder encoder, RowSource rowsIn, BlockCodec codec, PlannedQuantTensor t,
            GgufWriter.TensorSink sink, long[] chunkRow, long rowBytes, int n, GgufFile in, GgmlType dst, long doneBefore,
            Progress progress) throws IOException {
        {
            encoder.encode(rowsIn, codec, t.importance(), chunk -> {
                long bad = RowDataCheck.firstInvalid(dst, MemorySegment.ofBuffer(chunk), 0, chunk.remaining());
                if (bad >= 0) {
                    long row = chunkRow[0] + (dst.quantized() ? bad * dst.blockSize() : bad) / n;
                    throw new QuantizeException(in.path() + ": tensor '" + t.name() + "' row " + row + ": quantized data validation failed ("
                            + dst.ggmlName() + " scale is not finite; values too large for an fp16 scale?)");
                }
                chunkRow[0] += chunk.remaining() / rowBytes;
                sink.write(chunk);
            }, r -> progress.elementsDone(doneBefore + r * n, t));
        }
    }
}
