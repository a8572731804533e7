package dev.requant.converter;

import dev.requant.formats.gguf.GgufMetadata;
import dev.requant.formats.gguf.GgufTensorSpec;
import dev.requant.formats.gguf.GgufWriter;
import java.io.IOException;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.nio.channels.FileChannel;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.HashMap;
import java.util.Map;
import java.util.Optional;

/**
 * Runs a {@link ConversionPlan}: writes the GGUF header, then each tensor in plan order, streamed. A tensor whose stored
 * bytes already are its output type is copied file to file (in the kernel, like cp); any other is read in batches of rows as
 * float32, encoded by its row encoder and written, so the heap holds one batch (about 4 MiB of floats) whatever the
 * model size. The output appears only when every tensor is written (GgufWriter: temporary file + rename).
 */
public final class GgufConversion {
    /** Elements per batch of the computed path. */
    static final int BATCH_ELEMENTS = 1 << 20;

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
        Map<Path, FileChannel> sources = new HashMap<>();
        try (GgufWriter w = GgufWriter.create(out, metadata, plan.specs()); Arena arena = Arena.ofShared();
             Batch batch = new Batch(arena, threads)) {
            for (PlannedTensor t : plan.tensors()) {
                try (GgufWriter.TensorSink sink = w.beginTensor(t.ggufName())) {
                    writeTensor(t, sink, batch, sources);
                }
                if (listener != null) listener.tensorWritten(t, t.spec().byteSize());
            }
            finisher.finish(w);
            w.commit();
        } finally {
            for (FileChannel c : sources.values()) c.close();
        }
    }

    private static void writeTensor(PlannedTensor t, GgufWriter.TensorSink sink, Batch batch, Map<Path, FileChannel> sources) throws IOException {
        if (t.decision().encoder() == null) {
            Optional<TensorRecipe.FileRegion> region = t.recipe().storedRegion(t.decision().type());
            if (region.isPresent()) {
                TensorRecipe.FileRegion r = region.get();
                FileChannel src = sources.get(r.file());
                if (src == null) {
                    src = FileChannel.open(r.file(), StandardOpenOption.READ);
                    sources.put(r.file(), src);
                }
                sink.transferFrom(src, r.offset(), r.length());
                return;
            }
            Optional<MemorySegment> stored = t.recipe().stored(t.decision().type());
            if (stored.isPresent()) {
                sink.write(stored.get());
                return;
            }
        }
        encode(t, batch, (seg) -> sink.write(seg));
    }

    /** Receives encoded bytes batch by batch. */
    interface Output {
        void accept(MemorySegment bytes) throws IOException;
    }

    /**
     * Streams a tensor's rows through its encoder, a batch at a time; within a batch each thread reads and encodes a
     * contiguous run of rows into its own part of the output, so the bytes do not depend on the thread count.
     */
    static void encode(PlannedTensor t, Batch batch, Output out) throws IOException {
        TensorRecipe r = t.recipe();
        if (r instanceof RawRecipe raw && raw.rawType() == t.decision().type() && t.decision().encoder() == null) {
            copyRaw(t, raw, batch, out);
            return;
        }
        RowEncoder enc = t.decision().encoderOrReference();
        GgufTensorSpec spec = t.spec();
        long rowLen = r.rowLength();
        if (rowLen > Integer.MAX_VALUE) throw new IllegalStateException(t.ggufName() + ": row of " + rowLen + " elements");
        int n = (int) rowLen;
        long rowBytes = spec.type().rowBytes(rowLen);
        int rowsPerBatch = (int) Math.max(1, Math.min(r.rows(), (long) BATCH_ELEMENTS * batch.threads / Math.max(1, n)));
        MemorySegment dst = batch.bytes(rowsPerBatch * rowBytes);
        for (long row = 0; row < r.rows(); row += rowsPerBatch) {
            int count = (int) Math.min(rowsPerBatch, r.rows() - row);
            long first = row;
            int parts = Math.min(batch.threads, count);
            batch.run(parts, p -> {
                int from = count * p / parts, to = count * (p + 1) / parts;
                float[] src = batch.floats(p, (long) (to - from) * n);
                r.readRows(first + from, to - from, src);
                for (int i = 0; i < to - from; i++) enc.encodeRow(src, i * n, n, dst, (from + i) * rowBytes);
            });
            out.accept(dst.asSlice(0, count * rowBytes));
        }
    }

    /** Streams a repacked tensor's rows (no float round trip). */
    private static void copyRaw(PlannedTensor t, RawRecipe r, Batch batch, Output out) throws IOException {
        long rowBytes = t.spec().type().rowBytes(r.rowLength());
        int rowsPerBatch = (int) Math.max(1, Math.min(r.rows(), (4L * BATCH_ELEMENTS) / Math.max(1, rowBytes)));
        MemorySegment dst = batch.bytes(rowsPerBatch * rowBytes);
        for (long row = 0; row < r.rows(); row += rowsPerBatch) {
            int count = (int) Math.min(rowsPerBatch, r.rows() - row);
            r.copyRows(row, count, dst, 0);
            out.accept(dst.asSlice(0, count * rowBytes));
        }
    }

    /** Reusable batch buffers (floats per thread on the heap, encoded bytes off-heap) and the threads that fill them. */
    static final class Batch implements AutoCloseable {
        private final Arena arena;
        final int threads;
        private final float[][] floats;
        private final java.util.concurrent.ExecutorService pool;
        private MemorySegment bytes;

        Batch(Arena arena, int threads) {
            this.arena = arena;
            this.threads = Math.max(1, threads);
            this.floats = new float[this.threads][0];
            this.pool = this.threads > 1 ? java.util.concurrent.Executors.newFixedThreadPool(this.threads - 1, r -> {
                Thread th = new Thread(r, "requant-encode");
                th.setDaemon(true);
                return th;
            }) : null;
        }

        float[] floats(int part, long n) {
            if (floats[part].length < n) floats[part] = new float[(int) n];
            return floats[part];
        }

        MemorySegment bytes(long n) {
            if (bytes == null || bytes.byteSize() < n) bytes = arena.allocate(Math.max(n, 1), 64);
            return bytes;
        }

        /** Runs parts 0..parts-1, part 0 on the calling thread, and waits for all (rethrowing the first failure). */
        void run(int parts, java.util.function.IntConsumer part) throws IOException {
            java.util.List<java.util.concurrent.Future<?>> others = new java.util.ArrayList<>();
            for (int p = 1; p < parts; p++) {
                int q = p;
                others.add(pool.submit(() -> part.accept(q)));
            }
            part.accept(0);
            for (var f : others) {
                try {
                    f.get();
                } catch (InterruptedException e) {
                    Thread.currentThread().interrupt();
                    throw new java.io.InterruptedIOException("interrupted while encoding");
                } catch (java.util.concurrent.ExecutionException e) {
                    if (e.getCause() instanceof RuntimeException re) throw re;
                    if (e.getCause() instanceof Error er) throw er;
                    throw new IOException(e.getCause());
                }
            }
        }

        @Override
        public void close() {
            if (pool != null) pool.shutdownNow();
        }
    }
}
