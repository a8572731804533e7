package dev.requant.formats.ggml;

import java.io.IOException;
import java.io.InterruptedIOException;
import java.lang.foreign.MemorySegment;
import java.nio.ByteBuffer;
import java.util.ArrayDeque;
import java.util.Iterator;
import java.util.List;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.atomic.AtomicInteger;

/**
 * Encodes whole tensors row by row into a target GGML type on a pool of threads, writing the bytes in row order (as
 * llama-quantize's llama_tensor_quantize_impl splits rows into chunks over its threads). Rows are independent in every
 * ggml quantizer, so the output does not depend on the thread count or the chunking. Memory stays bounded: a few
 * chunks of about {@value #CHUNK_BYTES} bytes per thread are in flight, never a whole tensor.
 *
 * <p>{@link #encodeAll} writes a sequence of tensors with the threads encoding ahead across tensor boundaries.
 *
 * <p>Close the encoder to stop its threads. One encoder may be reused for many calls, one at a time.
 */
public final class TensorEncoder implements AutoCloseable {
    /** Target size of the encoded bytes of one chunk of rows. */
    static final int CHUNK_BYTES = 1 << 20;

    /**
     * At most this many weights per chunk (at least one row): the low-bit encoders write few bytes for much work (an
     * IQ2 chunk of 1 MiB holds 3.6 M weights, several seconds of search), so a matrix must still split into enough
     * chunks to keep every thread busy (llama-quantize's chunks are 16 K weights).
     */
    static final int CHUNK_WEIGHTS = 1 << 18;

    /** Weights read from the source at a time within a chunk (at least one row): 64 KiB of floats. */
    static final int READ_WEIGHTS = 1 << 14;

    /** Where encoded chunks go, in order; e.g. {@code sink::write} of an {@link EncoderSink}. */
    @FunctionalInterface
    public interface ChunkSink {
        void write(ByteBuffer chunk) throws IOException;
    }

    /** Told the number of rows written so far after each chunk (for progress bars). */
    @FunctionalInterface
    public interface Progress {
        void rowsDone(long rows);

        Progress NONE = rows -> {};
    }

    private final int threads;
    private final int chunkBytes;
    private final ExecutorService pool;
    private final ThreadLocal<float[][]> scratch = ThreadLocal.withInitial(() -> new float[1][0]);
    /** Chunks encoding or encoded and not yet written at a time: 4 per thread (with 2, the threads still waited for the caller to write now and then). */
    private final int inFlight;
    /** Chunk buffers not in use, reused across tensors and calls; see {@link #buffer}. Used by the calling thread only. */
    private final ArrayDeque<ByteBuffer> spare = new ArrayDeque<>();

    /** An encoder with {@code threads} worker threads (1 encodes on the calling thread). */
    public TensorEncoder(int threads) {
        this(threads, CHUNK_BYTES);
    }

    /** With a chosen chunk size (tests use small chunks to get many of them). */
    TensorEncoder(int threads, int chunkBytes) {
        this.chunkBytes = chunkBytes;
        if (threads < 1) throw new IllegalArgumentException("threads must be at least 1, got " + threads);
        this.threads = threads;
        this.inFlight = 4 * threads;
        if (threads == 1) {
            pool = null;
        } else {
            AtomicInteger n = new AtomicInteger();
            pool = Executors.newFixedThreadPool(threads, r -> {
                Thread t = new Thread(r, "requant-encode-" + n.incrementAndGet());
                t.setDaemon(true);
                return t;
            });
        }
    }

    public int threads() { return threads; }

    /** Encodes all rows of {@code source} into the open tensor {@code sink} (whose type and size must match) and closes it. */
    public void encode(RowSource source, GgmlType target, float[] importance, EncoderSink sink)
            throws IOException {
        encode(source, target, importance, sink, Progress.NONE);
    }

    public void encode(RowSource source, GgmlType target, float[] importance, EncoderSink sink,
            Progress progress) throws IOException {
        long want = target.rowBytes(source.rowLength()) * source.rows();
        if (sink.type() != target || sink.remaining() != want) {
            throw new IllegalArgumentException("tensor '" + sink.name() + "' is " + sink.type().ggmlName() + " (" + sink.remaining()
                    + " bytes to write); encoding gives " + source.rows() + " rows of " + source.rowLength() + " "
                    + target.ggmlName() + " (" + want + " bytes)");
        }
        encode(source, target, importance, sink::write, progress);
        sink.close();
    }

    /**
     * Encodes all rows of {@code source} and hands the bytes to {@code out} in order.
     *
     * @param importance null, or per-column weights (imatrix mean of x^2): either {@code rowLength} values shared by
     *     all rows, or {@code k*rowLength} values for k stacked matrices (3-D expert tensors), row r using matrix
     *     {@code r / (rows/k)}; ignored by codecs whose llama.cpp quantizer ignores it
     */
    public void encode(RowSource source, GgmlType target, float[] importance, ChunkSink out, Progress progress)
            throws IOException {
        encode(source, BlockCodec.of(target), importance, out, progress);
    }

    /**
     * As {@link #encode(RowSource, GgmlType, float[], ChunkSink, Progress)} with a chosen codec for the target type
     * (for example an encoder that searches scales harder than llama.cpp's); the codec must be safe to call from
     * several threads at once.
     */
    public void encode(RowSource source, BlockCodec codec, float[] importance, ChunkSink out, Progress progress)
            throws IOException {
        encodeAll(List.<Job>of(new Encoded(source, codec, importance, Output.of(out), progress)).iterator());
    }

    /** One tensor of the sequence {@link #encodeAll} writes: {@link Encoded} here, or {@link Written} by the caller. */
    public sealed interface Job permits Encoded, Written {}

    /**
     * A tensor encoded from {@code source} with {@code codec} (safe to call from several threads at once) and
     * {@code importance} (as for {@link #encode(RowSource, GgmlType, float[], ChunkSink, Progress)}); its bytes go in
     * order to {@code output}, opened when its first chunk is due and closed after its last; {@code progress} is told the
     * rows written after each chunk.
     */
    public record Encoded(RowSource source, BlockCodec codec, float[] importance, Output output, Progress progress) implements Job {}

    /** A tensor the caller writes itself (a copy of stored bytes): run on the calling thread in its turn. */
    public record Written(IoAction write) implements Job {}

    /** Where an {@link Encoded} tensor's bytes go: {@link #open} when its first chunk is due, {@link #close} after its last. */
    public interface Output {
        ChunkSink open() throws IOException;

        void close() throws IOException;

        /** Bytes to {@code sink}, with nothing to open or close. */
        static Output of(ChunkSink sink) {
            return new Output() {
                @Override public ChunkSink open() { return sink; }

                @Override public void close() {}
            };
        }
    }

    /** A step of the caller's that may fail with an IOException. */
    @FunctionalInterface
    public interface IoAction {
        void run() throws IOException;
    }

    /**
     * Writes a sequence of tensors in order: every byte of one before any of the next, as a GGUF file's tensor data
     * needs them. The threads encode ahead across tensor boundaries: the next tensor's first chunks are encoded while
     * this one's last are still being finished and written, so the threads do not wait at the end of each tensor for its
     * slowest chunk and for the caller to start the next (a model has hundreds of tensors, many of them a few chunks).
     * A job is taken from {@code jobs} (on the calling thread) only when its first chunk can be started.
     */
    public void encodeAll(Iterator<? extends Job> jobs) throws IOException {
        if (pool == null) {
            while (jobs.hasNext()) {
                switch (jobs.next()) {
                    case Written w -> w.write().run();
                    case Encoded e -> {
                        Tensor t = new Tensor(e);
                        ChunkSink sink = e.output().open();
                        ByteBuffer buf = buffer(t.chunkBytes);
                        for (long c = 0; c < t.chunks; c++) {
                            t.encodeChunk(c, buf);
                            sink.write(buf);
                            e.progress().rowsDone(t.rowsThrough(c));
                        }
                        spare.add(buf);
                        e.output().close();
                    }
                }
            }
            return;
        }
        // the order in which the caller writes: chunks (encoding or done) and the caller's own tensors
        ArrayDeque<Slot> queue = new ArrayDeque<>();
        int encoding = 0; // slots holding a chunk buffer
        Tensor current = null;
        long nextChunk = 0;
        try {
            while (true) {
                // start chunks while buffers are free; the queue's length bounds how far ahead jobs are taken
                while (encoding < inFlight && queue.size() < 4 * inFlight) {
                    if (current == null || nextChunk == current.chunks) {
                        current = null;
                        if (!jobs.hasNext()) break;
                        switch (jobs.next()) {
                            case Written w -> queue.add(new Slot(null, 0, null, w));
                            case Encoded e -> {
                                current = new Tensor(e);
                                nextChunk = 0;
                                if (current.chunks == 0) queue.add(new Slot(current, -1, null, null)); // opened and closed in turn
                            }
                        }
                        continue;
                    }
                    Tensor t = current;
                    long c = nextChunk++;
                    ByteBuffer buf = buffer(t.chunkBytes);
                    encoding++;
                    queue.add(new Slot(t, c, pool.submit(() -> {
                        t.encodeChunk(c, buf);
                        return buf;
                    }), null));
                }
                Slot s = queue.pollFirst();
                if (s == null) break;
                if (s.written() != null) {
                    s.written().write().run();
                    continue;
                }
                Tensor t = s.tensor();
                if (s.chunk() <= 0) t.sink = t.job.output().open();
                if (s.chunk() >= 0) {
                    ByteBuffer done = s.result().get();
                    encoding--;
                    t.sink.write(done);
                    spare.add(done);
                    t.job.progress().rowsDone(t.rowsThrough(s.chunk()));
                }
                if (s.chunk() == t.chunks - 1) t.job.output().close(); // -1 == 0 - 1 for a tensor of no rows
            }
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new InterruptedIOException("interrupted while encoding");
        } catch (ExecutionException e) {
            Throwable cause = e.getCause();
            if (cause instanceof RuntimeException re) throw re;
            if (cause instanceof Error err) throw err;
            throw new IOException(cause);
        } finally {
            for (Slot s : queue) if (s.result() != null) s.result().cancel(false);
            for (Slot s : queue) {
                if (s.result() == null) continue;
                try {
                    spare.add(s.result().get());
                } catch (Exception ignored) {
                    // already failing or cancelled; only waiting so no worker still writes into a buffer
                }
            }
        }
    }

    /** A place in {@link #encodeAll}'s order: chunk {@code chunk} of {@code tensor} (-1: a tensor of no rows), or the caller's {@code written}. */
    private record Slot(Tensor tensor, long chunk, Future<ByteBuffer> result, Written written) {}

    /** An {@link Encoded} job with its chunking, and its output once opened. */
    private final class Tensor {
        final Encoded job;
        final RowSource source;
        final BlockCodec codec;
        final float[] imatrix;
        final long rows, rowBytes, rowsPerMatrix, chunks;
        final int chunkRows, chunkBytes;
        ChunkSink sink;

        Tensor(Encoded job) {
            this.job = job;
            source = job.source();
            GgmlType target = job.codec().type();
            int n = source.rowLength();
            rows = source.rows();
            // only the stock encoder is warmed here; another codec of the type (the QAT lattice) never calls that kernel
            if (job.codec() == BlockCodec.of(target)) VectorSupport.warmUp(target);
            rowBytes = target.rowBytes(n);
            rowsPerMatrix = rowsPerMatrix(job.importance(), n, rows);
            chunkRows = (int) Math.max(1, Math.min(Math.min(rows, TensorEncoder.this.chunkBytes / Math.max(1, rowBytes)), CHUNK_WEIGHTS / n));
            chunkBytes = Math.toIntExact(chunkRows * rowBytes);
            chunks = (rows + chunkRows - 1) / chunkRows;
            imatrix = job.codec().usesImportance() ? job.importance() : null;
            codec = ColdStartCodec.forTensor(job.codec(), imatrix != null);
        }

        void encodeChunk(long c, ByteBuffer buf) {
            long first = c * chunkRows;
            TensorEncoder.this.encodeChunk(source, codec, rowBytes, imatrix, rowsPerMatrix, first, (int) Math.min(chunkRows, rows - first), buf);
        }

        long rowsThrough(long c) { return Math.min(rows, (c + 1) * chunkRows); }
    }

    /**
     * A chunk buffer of at least {@code bytes}, kept from tensor to tensor: allocating and zeroing fresh direct buffers
     * for each of a model's hundreds of tensors cost more than writing them.
     */
    private ByteBuffer buffer(int bytes) {
        ByteBuffer b = spare.poll();
        if (b == null || b.capacity() < bytes) b = ByteBuffer.allocateDirect(Math.max(bytes, chunkBytes));
        return b.clear();
    }

    private static long rowsPerMatrix(float[] importance, int n, long rows) {
        if (importance == null) return rows;
        if (importance.length == 0 || importance.length % n != 0) {
            throw new IllegalArgumentException("importance has " + importance.length + " values; rows have " + n + " columns");
        }
        int matrices = importance.length / n;
        if (rows % matrices != 0) {
            throw new IllegalArgumentException(rows + " rows do not split into " + matrices + " matrices of importance");
        }
        return rows / matrices;
    }

    private void encodeChunk(RowSource source, BlockCodec codec, long rowBytes, float[] importance, long rowsPerMatrix,
            long first, int count, ByteBuffer buf) {
        int n = source.rowLength();
        // read a few rows at a time, not the whole chunk: the floats are then still in the core's cache when encoded
        // (a 1 MiB chunk of floats is evicted by the time its last rows are: 10% of the QAT lattice's time); 16 K
        // weights still give the K-quant lane fits (LaneQkxFit, LaneQxBlocks) their runs of 32 super-blocks
        int batch = Math.max(1, Math.min(count, READ_WEIGHTS / n));
        float[][] holder = scratch.get();
        if (holder[0].length < batch * n) holder[0] = new float[batch * n];
        float[] x = holder[0];
        buf.clear();
        MemorySegment dst = MemorySegment.ofBuffer(buf);
        for (int b = 0; b < count; b += batch) {
            int rows = Math.min(batch, count - b);
            source.read(first + b, rows, x);
            if (importance == null || importance.length == n) {
                codec.encodeRows(x, 0, n, rows, importance, dst, b * rowBytes);
            } else { // one importance vector per matrix (experts): the rows of each matrix together
                for (int i = 0; i < rows; ) {
                    long m = (first + b + i) / rowsPerMatrix;
                    int run = (int) Math.min(rows - i, (m + 1) * rowsPerMatrix - (first + b + i));
                    float[] w = java.util.Arrays.copyOfRange(importance, (int) (m * n), (int) ((m + 1) * n));
                    codec.encodeRows(x, i * n, n, run, w, dst, (b + i) * rowBytes);
                    i += run;
                }
            }
        }
        buf.limit((int) (count * rowBytes));
    }

    @Override
    public void close() {
        if (pool != null) pool.shutdownNow();
    }

}
