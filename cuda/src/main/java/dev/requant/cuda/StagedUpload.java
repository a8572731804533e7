package dev.requant.cuda;

import java.lang.foreign.MemorySegment;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;

/**
 * Uploads of large host segments (memory-mapped model files) through a ring of page-locked staging buffers.
 *
 * <p>Why: a copy from pageable memory ({@link CudaDevice#copyToDevice}) goes through the driver's own small staging
 * area, one thread, page faults included: about 6 GB/s on an H100 host, so 57 GiB of BF16 weights took 9-10 s. Here
 * {@code threads} threads copy each chunk from the mapping into a page-locked buffer (faulting the mapping's pages in
 * parallel) while the DMA engine moves the previous chunk, on a copy stream of its own.
 *
 * <p>Ordering: {@link #copy} returns once its last chunk is queued; work queued on the device's default stream after it
 * runs after the copy (the default stream waits for the copy's last event), and {@link CudaDevice#synchronize()} waits
 * for it as for everything else. The source is read before {@code copy} returns; a staging buffer is refilled only
 * after its previous chunk has reached the device.
 */
public final class StagedUpload implements AutoCloseable {
    /** Below this, the synchronous pageable copy is as fast and needs no staging. */
    public static final long DIRECT_BELOW = 4L << 20;
    /** Never started: asks whether a segment may be read by threads other than its owner (the pool's). */
    private static final Thread OTHER_THREAD = new Thread(() -> {});
    private final CudaDevice device;
    private final long chunkBytes;
    private final MemorySegment[] buffers;
    private final CudaEvent[] copied;
    private final boolean[] pending;
    private final CudaStream stream;
    private final ExecutorService pool;
    private final int threads;
    private int next;
    private long bytes;
    private boolean closed;

    /**
     * @param chunkBytes bytes per staging buffer (each of {@code buffers} page-locked buffers)
     * @param threads host threads that copy into a staging buffer
     */
    public StagedUpload(CudaDevice device, long chunkBytes, int buffers, int threads) {
        if (chunkBytes < 1 || buffers < 2 || threads < 1) throw new IllegalArgumentException("chunk " + chunkBytes + ", buffers " + buffers + ", threads " + threads);
        this.device = device;
        this.chunkBytes = chunkBytes;
        this.threads = threads;
        this.buffers = new MemorySegment[buffers];
        this.copied = new CudaEvent[buffers];
        this.pending = new boolean[buffers];
        CudaStream s = null;
        try {
            for (int i = 0; i < buffers; i++) {
                this.buffers[i] = device.allocateHost(chunkBytes);
                copied[i] = device.createEvent();
            }
            s = device.createStream();
        } catch (RuntimeException e) {
            this.stream = null;
            this.pool = null;
            close();
            throw e;
        }
        this.stream = s;
        this.pool = threads == 1 ? null : Executors.newFixedThreadPool(threads, r -> {
            Thread t = new Thread(r, "staged-upload");
            t.setDaemon(true);
            return t;
        });
    }

    /** Three 64 MiB buffers and up to 8 copying threads: enough to keep an H100's link busy from the page cache. */
    public static StagedUpload defaults(CudaDevice device) {
        return new StagedUpload(device, 64L << 20, 3, Math.max(1, Math.min(8, Runtime.getRuntime().availableProcessors())));
    }

    /** Bytes that went through the staging buffers so far. */
    public long stagedBytes() { return bytes; }

    /** Copies {@code src} (heap or native) to the start of {@code dst}; see the class comment for when it has run. */
    public void copy(MemorySegment src, DeviceBuffer dst) {
        dst.require(src.byteSize(), 1, "copy to device");
        long n = src.byteSize();
        if (n < DIRECT_BELOW || !src.isNative()) {
            device.copyToDevice(src, dst);
            return;
        }
        int last = -1;
        for (long off = 0; off < n; off += chunkBytes) {
            int k = next;
            next = (next + 1) % buffers.length;
            if (pending[k]) copied[k].synchronize(); // its previous chunk has left the buffer
            long len = Math.min(chunkBytes, n - off);
            fill(src.asSlice(off, len), buffers[k]);
            device.copyToDeviceAsync(buffers[k].asSlice(0, len), dst.slice(off, len), stream);
            copied[k].record(stream);
            pending[k] = true;
            last = k;
        }
        device.defaultStream().waitFor(copied[last]);
        bytes += n;
    }

    /** Copies {@code part} into the start of {@code buffer}, split over the pool's threads. */
    private void fill(MemorySegment part, MemorySegment buffer) {
        long len = part.byteSize();
        // a segment of a confined arena (a tensor made in memory by its owner thread) is copied by that thread alone
        if (pool == null || len < 2 * DIRECT_BELOW || !part.isAccessibleBy(OTHER_THREAD)) {
            MemorySegment.copy(part, 0, buffer, 0, len);
            return;
        }
        long slice = ((len + threads - 1) / threads + 4095) & ~4095L; // page-aligned slices: each page faulted once
        List<Future<?>> jobs = new ArrayList<>();
        for (long o = 0; o < len; o += slice) {
            long from = o, l = Math.min(slice, len - o);
            jobs.add(pool.submit(() -> MemorySegment.copy(part, from, buffer, from, l)));
        }
        try {
            for (Future<?> f : jobs) f.get();
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new IllegalStateException("interrupted while staging an upload", e);
        } catch (ExecutionException e) {
            throw e.getCause() instanceof RuntimeException r ? r : new IllegalStateException(e.getCause());
        }
    }

    /** Waits for every queued copy. */
    public void finish() {
        if (stream != null) stream.synchronize();
    }

    @Override
    public void close() {
        if (closed) return;
        closed = true;
        if (pool != null) pool.shutdownNow();
        finish();
        if (stream != null) stream.close();
        for (CudaEvent e : copied) if (e != null) e.close();
        for (MemorySegment b : buffers) if (b != null) device.freeHost(b);
    }
}
