package dev.requant.formats.ggml;

import java.io.IOException;
import java.io.InterruptedIOException;
import java.lang.foreign.MemorySegment;
import java.nio.ByteBuffer;
import java.util.ArrayDeque;
import java.util.concurrent.ArrayBlockingQueue;
import java.util.concurrent.BlockingQueue;
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
 * <p>Close the encoder to stop its threads. One encoder may be reused for many tensors, one at a time.
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
    /** Chunk buffers (2 per thread in flight), reused across tensors; see {@link #buffer}. */
    private final ByteBuffer[] buffers;

    /** An encoder with {@code threads} worker threads (1 encodes on the calling thread). */
    public TensorEncoder(int threads) {
        this(threads, CHUNK_BYTES);
    }

    /** With a chosen chunk size (tests use small chunks to get many of them). */
    TensorEncoder(int threads, int chunkBytes) {
        this.chunkBytes = chunkBytes;
        if (threads < 1) throw new IllegalArgumentException("threads must be at least 1, got " + threads);
        this.threads = threads;
        this.buffers = new ByteBuffer[threads == 1 ? 1 : 2 * threads];
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
        GgmlType target = codec.type();
        int n = source.rowLength();
        long rows = source.rows();
        // only the stock encoder is warmed here; another codec of the type (the QAT lattice) never calls that kernel
        if (codec == BlockCodec.of(target)) VectorSupport.warmUp(target);
        long rowBytes = target.rowBytes(n);
        long rowsPerMatrix = rowsPerMatrix(importance, n, rows);
        int chunkRows = (int) Math.max(1, Math.min(Math.min(rows, this.chunkBytes / Math.max(1, rowBytes)), CHUNK_WEIGHTS / n));
        int chunkBytes = Math.toIntExact(chunkRows * rowBytes);
        long chunks = (rows + chunkRows - 1) / chunkRows;
        float[] imatrix = codec.usesImportance() ? importance : null;
        encodeChunks(source, ColdStartCodec.forTensor(codec, imatrix != null), imatrix, out, progress, rows, rowBytes, rowsPerMatrix,
                chunkRows, chunkBytes, chunks);
    }

    private void encodeChunks(RowSource source, BlockCodec codec, float[] imatrix, ChunkSink out, Progress progress, long rows,
            long rowBytes, long rowsPerMatrix, int chunkRows, int chunkBytes, long chunks) throws IOException {
        if (pool == null) {
            ByteBuffer buf = buffer(0, chunkBytes);
            for (long c = 0; c < chunks; c++) {
                long first = c * chunkRows;
                int count = (int) Math.min(chunkRows, rows - first);
                encodeChunk(source, codec, rowBytes, imatrix, rowsPerMatrix, first, count, buf);
                out.write(buf);
                progress.rowsDone(first + count);
            }
            return;
        }
        int inFlight = buffers.length;
        BlockingQueue<ByteBuffer> free = new ArrayBlockingQueue<>(inFlight);
        for (int i = 0; i < inFlight; i++) free.add(buffer(i, chunkBytes));
        ArrayDeque<Future<ByteBuffer>> pending = new ArrayDeque<>();
        long next = 0;
        long written = 0;
        try {
            while (next < chunks || !pending.isEmpty()) {
                while (next < chunks && pending.size() < inFlight) {
                    ByteBuffer buf = free.take();
                    long first = next * chunkRows;
                    int count = (int) Math.min(chunkRows, rows - first);
                    pending.add(pool.submit(() -> {
                        encodeChunk(source, codec, rowBytes, imatrix, rowsPerMatrix, first, count, buf);
                        return buf;
                    }));
                    next++;
                }
                ByteBuffer done = pending.removeFirst().get();
                out.write(done);
                progress.rowsDone(Math.min(rows, ++written * chunkRows));
                free.add(done);
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
            for (Future<ByteBuffer> f : pending) f.cancel(false);
            for (Future<ByteBuffer> f : pending) {
                try {
                    f.get();
                } catch (Exception ignored) {
                    // already failing or cancelled; only waiting so no worker still writes into a buffer
                }
            }
        }
    }

    /**
     * The i-th chunk buffer, kept from tensor to tensor: allocating and zeroing fresh direct buffers for each of a
     * model's hundreds of tensors cost more than writing them.
     */
    private ByteBuffer buffer(int i, int bytes) {
        if (buffers[i] == null || buffers[i].capacity() < bytes) buffers[i] = ByteBuffer.allocateDirect(Math.max(bytes, chunkBytes));
        return buffers[i].clear();
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
