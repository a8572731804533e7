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
            // every shard is written before any is renamed into place, so a failure leaves none of them; the encoder's
            // threads run on from one tensor (and shard) to the next, each shard's file made in its turn
            List<JobSource> jobs = new ArrayList<>();
            long done = 0;
            for (QuantizePlan.OutputShard o : shards) {
                GgufWriter[] w = {null};
                jobs.add(() -> new TensorEncoder.Written(() -> {
                    w[0] = GgufWriter.create(o.path(), o.metadata(), o.tensors().stream().map(PlannedQuantTensor::output).toList());
                    writers.add(w[0]);
                }));
                for (PlannedQuantTensor t : o.tensors()) {
                    long doneBefore = done;
                    done += t.input().spec().elementCount();
                    long doneAfter = done;
                    jobs.add(() -> job(plan, t, () -> w[0], codecChoice, doneBefore, doneAfter, progress));
                }
            }
            try {
                encoder.encodeAll(jobs.stream().map(JobSource::makeUnchecked).iterator());
            } catch (CheckedRows.InvalidData e) {
                throw new QuantizeException(e.getMessage());
            } catch (java.io.UncheckedIOException e) {
                throw e.getCause();
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

    /** Makes a job when the encoder takes it; see {@link #job}. */
    private interface JobSource {
        TensorEncoder.Job make() throws IOException;

        default TensorEncoder.Job makeUnchecked() {
            try {
                return make();
            } catch (IOException e) {
                throw new java.io.UncheckedIOException(e);
            }
        }
    }

    /**
     * A tensor's job, made when the encoder takes it (its input checked then, not all tensors' before the first is
     * encoded): copied as stored, or encoded into the shard's writer, each chunk checked as llama-quantize checks it.
     */
    private static TensorEncoder.Job job(QuantizePlan plan, PlannedQuantTensor t, java.util.function.Supplier<GgufWriter> writer,
            java.util.function.Function<PlannedQuantTensor, BlockCodec> codecs, long doneBefore, long doneAfter, Progress progress)
            throws IOException {
        GgufFile in = plan.input().files().get(t.shard());
        MemorySegment data = in.tensorData(t.input());
        if (t.copied()) {
            return new TensorEncoder.Written(() -> {
                checkInput(in, t, data);
                writer.get().writeTensor(t.name(), data);
                progress.elementsDone(doneAfter, t);
            });
        }
        GgmlType src = t.input().type();
        // dequantized inputs: their scales, before any row is encoded; float inputs: checked as read
        if (src.quantized()) checkInput(in, t, data);
        GgmlType dst = t.output().type();
        int n = Math.toIntExact(t.input().spec().rowLength());
        long rows = t.input().spec().rows();
        RowSource rowsIn = src.quantized() ? RowSource.of(data, src, n, rows)
                : new CheckedRows(data, src, n, rows, in.path() + ": tensor '" + t.name() + "'");
        long rowBytes = dst.rowBytes(n);
        TensorEncoder.Output output = new TensorEncoder.Output() {
            private GgufWriter.TensorSink sink;
            private long chunkRow;

            @Override
            public TensorEncoder.ChunkSink open() throws IOException {
                sink = writer.get().beginTensor(t.name());
                return chunk -> {
                    long bad = RowDataCheck.firstInvalid(dst, MemorySegment.ofBuffer(chunk), 0, chunk.remaining());
                    if (bad >= 0) {
                        long row = chunkRow + (dst.quantized() ? bad * dst.blockSize() : bad) / n;
                        throw new QuantizeException(in.path() + ": tensor '" + t.name() + "' row " + row + ": quantized data validation failed ("
                                + dst.ggmlName() + " scale is not finite; values too large for an fp16 scale?)");
                    }
                    chunkRow += chunk.remaining() / rowBytes;
                    sink.write(chunk);
                };
            }

            @Override
            public void close() throws IOException {
                sink.close();
                progress.elementsDone(doneAfter, t);
            }
        };
        return new TensorEncoder.Encoded(rowsIn, codecs.apply(t), t.importance(), output, r -> progress.elementsDone(doneBefore + r * n, t));
    }
}
