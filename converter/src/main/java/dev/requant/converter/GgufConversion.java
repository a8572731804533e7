package dev.requant.converter;

import dev.requant.formats.FormatException;
import dev.requant.formats.ggml.FiniteCheck;
import dev.requant.formats.ggml.RowSource;
import dev.requant.formats.ggml.TensorEncoder;
import dev.requant.formats.gguf.GgufMetadata;
import dev.requant.formats.gguf.GgufSplit;
import dev.requant.formats.gguf.GgufSplitWriter;
import dev.requant.formats.gguf.GgufWriter;
import java.io.IOException;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.nio.channels.FileChannel;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;

/**
 * Runs a {@link ConversionPlan}: writes the GGUF header, then each tensor in plan order, streamed. A tensor whose stored
 * bytes already are its output type is copied file to file (in the kernel, like cp); any other is read in chunks of rows
 * as float32 and encoded by its codec on {@link TensorEncoder}'s threads while the calling thread writes the chunks
 * before them, so the heap holds a few chunks whatever the model size. The output appears only when every tensor is
 * written (GgufWriter: temporary file + rename).
 */
public final class GgufConversion {
    /** Bytes per batch of a repacked tensor's copy. */
    private static final long COPY_BYTES = 4L << 20;

    /** Told about each tensor when it has been written. */
    public interface Listener {
        void tensorWritten(PlannedTensor tensor, long bytes);
    }

    private GgufConversion() {}

    /** Runs after the last tensor, before the file appears: fills in header values that depend on the tensors written. */
    public interface Finisher {
        void finish(GgufWriter writer) throws IOException;
    }

    public static void write(ConversionPlan plan, Path out, Listener listener) throws IOException {
        write(plan, plan.metadata(), out, listener, w -> { });
    }

    /** Writes the plan with {@code metadata} (the plan's own plus keys a policy adds) and a finishing step. */
    public static void write(ConversionPlan plan, GgufMetadata metadata, Path out, Listener listener, Finisher finisher) throws IOException {
        write(plan, metadata, out, listener, finisher, Runtime.getRuntime().availableProcessors());
    }

    /** As above, encoding computed tensors on {@code threads} threads (the output does not depend on the count). */
    public static void write(ConversionPlan plan, GgufMetadata metadata, Path out, Listener listener, Finisher finisher,
                             int threads) throws IOException {
        write(plan, metadata, out, null, listener, finisher, threads);
    }

    /**
     * As above; with a {@code split} limit the output is written as the shards gguf-split makes of it
     * ({@link GgufSplitWriter}: {@code OUT-00001-of-0000N.gguf} ..., OUT without a trailing .gguf), the finisher
     * updating the first shard, which holds the metadata; all shards appear only when all are complete.
     *
     * @return the files written, the first shard first
     */
    public static List<Path> write(ConversionPlan plan, GgufMetadata metadata, Path out, GgufSplitWriter.Limit split, Listener listener,
                                   Finisher finisher, int threads) throws IOException {
        Map<Path, FileChannel> sources = new HashMap<>();
        try (Output w = split == null ? Output.single(GgufWriter.create(out, metadata, plan.specs()))
                : Output.split(GgufSplitWriter.create(GgufSplit.outputPrefix(out), metadata, plan.specs(), split, false));
                TensorEncoder encoder = new TensorEncoder(Math.max(1, threads))) {
            try {
                encoder.encodeAll(plan.tensors().stream().map(t -> job(t, w, sources, listener)).iterator());
            } catch (NonFiniteWeight e) {
                throw new FormatException(e.file != null ? e.file : plan.config().dir(), e.getMessage());
            }
            finisher.finish(w.first());
            w.commit();
            return w.paths();
        } finally {
            for (FileChannel c : sources.values()) c.close();
        }
    }

    /** One GGUF file or gguf-split's shards of it, written tensor by tensor in plan order. */
    private record Output(GgufWriter single, GgufSplitWriter shards) implements AutoCloseable {
        static Output single(GgufWriter w) { return new Output(w, null); }

        static Output split(GgufSplitWriter w) { return new Output(null, w); }

        GgufWriter.TensorSink beginTensor(String name) throws IOException {
            return single != null ? single.beginTensor(name) : shards.beginTensor(name);
        }

        GgufWriter first() { return single != null ? single : shards.first(); }

        void commit() throws IOException {
            if (single != null) single.commit(); else shards.commit();
        }

        List<Path> paths() { return single != null ? List.of(single.target()) : shards.paths(); }

        @Override
        public void close() throws IOException {
            if (single != null) single.close(); else shards.close();
        }
    }

    /**
     * The tensor's part of the output: encoded by the encoder's threads, or written here when its bytes are stored in
     * the output type (copied from the source file, or repacked).
     */
    private static TensorEncoder.Job job(PlannedTensor t, Output w, Map<Path, FileChannel> sources, Listener listener) {
        if (t.decision().encoder() == null) {
            Optional<TensorRecipe.FileRegion> region = t.recipe().storedRegion(t.decision().type());
            if (region.isPresent()) {
                TensorRecipe.FileRegion r = region.get();
                return written(t, w, listener, sink -> {
                    FileChannel src = sources.get(r.file());
                    if (src == null) {
                        src = FileChannel.open(r.file(), StandardOpenOption.READ);
                        sources.put(r.file(), src);
                    }
                    sink.transferFrom(src, r.offset(), r.length());
                });
            }
            Optional<MemorySegment> stored = t.recipe().stored(t.decision().type());
            if (stored.isPresent()) return written(t, w, listener, sink -> sink.write(stored.get()));
        }
        RawRecipe raw = rawCopy(t);
        if (raw != null) return written(t, w, listener, sink -> copyRaw(t, raw, sink::write));
        return new TensorEncoder.Encoded(rows(t), t.decision().encoderOrReference(), null, new TensorEncoder.Output() {
            private GgufWriter.TensorSink sink;

            @Override
            public TensorEncoder.ChunkSink open() throws IOException {
                sink = w.beginTensor(t.ggufName());
                return sink::write;
            }

            @Override
            public void close() throws IOException {
                sink.close();
                if (listener != null) listener.tensorWritten(t, t.spec().byteSize());
            }
        }, TensorEncoder.Progress.NONE);
    }

    private interface SinkWrite {
        void to(GgufWriter.TensorSink sink) throws IOException;
    }

    /** A tensor whose bytes {@code write} puts in its sink on the calling thread, in its turn. */
    private static TensorEncoder.Written written(PlannedTensor t, Output w, Listener listener, SinkWrite write) {
        return new TensorEncoder.Written(() -> {
            try (GgufWriter.TensorSink sink = w.beginTensor(t.ggufName())) {
                write.to(sink);
            }
            if (listener != null) listener.tensorWritten(t, t.spec().byteSize());
        });
    }

    /**
     * Streams a tensor's rows through its encoder on the encoder's threads, in order; the bytes do not depend on the
     * thread count. A repacked tensor already in its output type is copied instead (no float round trip).
     */
    static void encode(PlannedTensor t, TensorEncoder encoder, TensorEncoder.ChunkSink out) throws IOException {
        RawRecipe raw = rawCopy(t);
        if (raw != null) {
            copyRaw(t, raw, out);
            return;
        }
        encoder.encode(rows(t), t.decision().encoderOrReference(), null, out, TensorEncoder.Progress.NONE);
    }

    /** The tensor's repacked recipe when it is already in its output type (copied, no float round trip), else null. */
    private static RawRecipe rawCopy(PlannedTensor t) {
        return t.recipe() instanceof RawRecipe raw && raw.rawType() == t.decision().type() && t.decision().encoder() == null ? raw : null;
    }

    /** The tensor's rows as its encoder reads them, refusing NaN and infinity where the output is quantized. */
    private static RowSource rows(PlannedTensor t) {
        TensorRecipe r = t.recipe();
        long rowLen = r.rowLength();
        if (rowLen > Integer.MAX_VALUE) throw new IllegalStateException(t.ggufName() + ": row of " + rowLen + " elements");
        int n = (int) rowLen;
        // A quantized block cannot hold NaN or an infinity: one such weight spoils its whole block's scale. llama-quantize
        // refuses such input, and so does this (float outputs keep the values as stored, as convert_hf_to_gguf.py does).
        boolean check = t.decision().type().quantized();
        RowSource rows = new RowSource() {
            @Override public int rowLength() { return n; }

            @Override public long rows() { return r.rows(); }

            @Override
            public void read(long first, int count, float[] dst) {
                if (!check) {
                    r.readRows(first, count, dst);
                } else if (!r.readFiniteRows(first, count, dst)) {
                    int bad = FiniteCheck.firstNonFinite(dst, 0, count * n);
                    long row = first + bad / n;
                    throw new NonFiniteWeight(sourceFile(r), "tensor '" + String.join(" + ", r.sources()) + "' (" + t.ggufName() + ") holds "
                            + dst[bad] + " at row " + row + ", column " + bad % n + "; " + t.decision().type().ggmlName()
                            + " blocks cannot hold NaN or infinity (llama-quantize refuses such weights too)");
                }
            }
        };
        return rows;
    }

    private static Path sourceFile(TensorRecipe r) {
        return r instanceof CheckpointTensor c ? c.entry().file().path() : null;
    }

    /** A NaN or infinity bound for a quantized tensor; thrown from encoder threads, reported as a FormatException. */
    static final class NonFiniteWeight extends RuntimeException {
        final Path file;

        NonFiniteWeight(Path file, String message) {
            super(message);
            this.file = file;
        }
    }

    /** Streams a repacked tensor's rows (no float round trip). */
    private static void copyRaw(PlannedTensor t, RawRecipe r, TensorEncoder.ChunkSink out) throws IOException {
        long rowBytes = t.spec().type().rowBytes(r.rowLength());
        int rowsPerBatch = (int) Math.max(1, Math.min(r.rows(), COPY_BYTES / Math.max(1, rowBytes)));
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment dst = arena.allocate(rowsPerBatch * rowBytes, 64);
            for (long row = 0; row < r.rows(); row += rowsPerBatch) {
                int count = (int) Math.min(rowsPerBatch, r.rows() - row);
                r.copyRows(row, count, dst, 0);
                out.write(dst.asSlice(0, count * rowBytes).asByteBuffer());
            }
        }
    }
}
