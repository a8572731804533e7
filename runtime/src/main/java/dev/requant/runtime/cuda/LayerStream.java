package dev.requant.runtime.cuda;

import dev.requant.cuda.CudaDevice;
import dev.requant.cuda.CudaEvent;
import dev.requant.cuda.CudaStream;
import dev.requant.cuda.DeviceBuffer;
import java.lang.foreign.MemorySegment;
import java.util.ArrayList;
import java.util.List;

/**
 * The layers of a model too large for the GPU (or streamed on request): each streamed layer's device tensors, exactly
 * as a resident layer holds them (bf16 matrices, low halves, float norms), kept as one image in page-locked host
 * memory and copied before its turn into one of two GPU buffers. Streamed layer {@code i} (in forward order) always
 * lands in buffer {@code i % 2}, so its device record is fixed.
 *
 * <p>Ordering, with events and a copy stream of its own (non-blocking, so the copies run beside the compute stream):
 * <ul>
 *   <li>{@link #prefetch} (start of a batch) queues layer 0's upload;</li>
 *   <li>{@link #acquire}{@code (i)} makes the compute stream wait for layer i's upload only, then queues layer i+1's
 *       upload, which itself waits until the compute stream has released that buffer (layer i-1): so layer i+1's copy
 *       overlaps layer i's compute;</li>
 *   <li>{@link #release}{@code (i)} marks the end of layer i's compute on the compute stream.</li>
 * </ul>
 * The kernels, their order and the bytes they read are those of the resident pass, so results are identical.
 */
final class LayerStream implements AutoCloseable {
    private final CudaDevice device;
    private final CudaStream copy;
    private final DeviceBuffer[] slots;
    private final CudaEvent[] uploaded, released;
    /** Per model layer: its position among the streamed layers, or -1. */
    private final int[] position;
    private final List<MemorySegment> images = new ArrayList<>();
    private final List<CudaGemmaWeights.Layer> records = new ArrayList<>();
    private long bytesPerPass;
    private boolean closed;

    LayerStream(CudaDevice device, WeightPlacement place) {
        this.device = device;
        int n = place.slots();
        this.slots = new DeviceBuffer[n];
        this.uploaded = new CudaEvent[n];
        this.released = new CudaEvent[n];
        this.position = new int[place.streamed().length];
        java.util.Arrays.fill(position, -1);
        CudaStream s = null;
        try {
            for (int i = 0; i < n; i++) slots[i] = device.allocate(place.slotBytes());
            for (int i = 0; i < n; i++) {
                uploaded[i] = device.createEvent();
                released[i] = device.createEvent();
            }
            s = device.createStream();
        } catch (RuntimeException e) {
            this.copy = null;
            close();
            throw e;
        }
        this.copy = s;
    }

    /** Upload buffer {@code i} (a streamed layer is converted in buffer 0 before its bytes go to host memory). */
    DeviceBuffer slot(int i) { return slots[i]; }

    /**
     * Adds model layer {@code layer} (the next in forward order), whose tensors {@code record} now lie in buffer 0 as
     * {@code bytes}: copies them to a new page-locked image and keeps the record moved to the layer's own buffer.
     */
    void add(int layer, CudaGemmaWeights.Layer record, DeviceBuffer bytes) {
        int i = records.size();
        MemorySegment image = device.allocateHost(bytes.bytes());
        images.add(image);
        device.copyToHost(bytes, image);
        position[layer] = i;
        records.add(record.rebased(slots[i % slots.length].address() - slots[0].address()));
        bytesPerPass += bytes.bytes();
    }

    /** Whether model layer {@code layer} streams. */
    boolean streams(int layer) { return position[layer] >= 0; }

    /** Bytes copied to the GPU per forward pass. */
    long bytesPerPass() { return bytesPerPass; }

    /** Queues the first streamed layer's upload (call when a forward pass starts, before its first layer). */
    void prefetch() {
        if (!records.isEmpty()) upload(0);
    }

    /** Makes {@code compute} wait for {@code layer}'s upload, queues the next streamed layer's; returns the tensors. */
    CudaGemmaWeights.Layer acquire(int layer, CudaStream compute) {
        int i = position[layer];
        compute.waitFor(uploaded[i % slots.length]);
        if (i + 1 < records.size()) upload(i + 1);
        return records.get(i);
    }

    /** Marks the end of {@code layer}'s compute: its buffer may be overwritten after the work queued so far. */
    void release(int layer, CudaStream compute) { released[position[layer] % slots.length].record(compute); }

    private void upload(int i) {
        int s = i % slots.length;
        copy.waitFor(released[s]); // the layer that used this buffer before has finished (no wait if never recorded)
        MemorySegment image = images.get(i);
        device.copyToDeviceAsync(image, slots[s].slice(0, image.byteSize()), copy);
        uploaded[s].record(copy);
    }

    @Override
    public void close() {
        if (closed) return;
        closed = true;
        device.synchronize();
        if (copy != null) {
            copy.synchronize();
            copy.close();
        }
        for (CudaEvent e : uploaded) if (e != null) e.close();
        for (CudaEvent e : released) if (e != null) e.close();
        for (DeviceBuffer b : slots) if (b != null) device.free(b);
        for (MemorySegment m : images) device.freeHost(m);
    }
}
