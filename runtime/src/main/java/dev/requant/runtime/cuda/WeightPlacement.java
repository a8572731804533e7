package dev.requant.runtime.cuda;

import dev.requant.runtime.GpuWeights;
import java.util.Arrays;

/**
 * Which layers' weights a GPU session keeps on the GPU and which it streams from page-locked host memory, and the
 * sizes that follow: the GPU memory of the resident weights, the two upload buffers ({@code slotBytes} each, the
 * largest streamed layer) and the host memory of the streamed layers.
 *
 * <p>{@code AUTO} keeps everything resident when the non-layer weights, every layer and {@code reserveBytes} (upload
 * staging, the eval's score buffers, cuBLAS) fit in {@code freeBytes} (the GPU's free memory once the session's
 * workspace is allocated). Otherwise it sets aside two buffers of the largest layer and keeps leading layers resident
 * while they fit: the first streamed layer's upload then overlaps the resident layers' compute.
 *
 * @param streamed per layer: whether it streams
 * @param layerBytes per layer: the GPU bytes of its tensors
 * @param slotBytes bytes of each of the two GPU upload buffers (0 when nothing streams)
 * @param deviceBytes GPU bytes of the weights: non-layer tensors, resident layers and the upload buffers
 * @param hostBytes page-locked host bytes of the streamed layers
 */
record WeightPlacement(GpuWeights mode, boolean[] streamed, long[] layerBytes, long slotBytes, long deviceBytes, long hostBytes) {
    /** Upload buffers: one while the other's layer computes. */
    static final int SLOTS = 2;

    WeightPlacement {
        streamed = streamed.clone();
        layerBytes = layerBytes.clone();
    }

    /**
     * @param globalBytes GPU bytes of the tensors outside the layers (embeddings, LM head, norms)
     * @param layerBytes GPU bytes of each layer's tensors
     * @param freeBytes the GPU's free memory now
     * @param reserveBytes memory that must stay free beside the weights
     * @throws IllegalStateException when {@code AUTO} cannot fit even the non-layer weights and two upload buffers
     */
    static WeightPlacement plan(GpuWeights mode, long globalBytes, long[] layerBytes, long freeBytes, long reserveBytes) {
        int n = layerBytes.length;
        boolean[] streamed = new boolean[n];
        long all = Arrays.stream(layerBytes).sum();
        switch (mode) {
            case RESIDENT -> { }
            case STREAM -> Arrays.fill(streamed, true);
            case AUTO -> {
                if (globalBytes + all + reserveBytes > freeBytes) {
                    long maxLayer = Arrays.stream(layerBytes).max().orElse(0);
                    long budget = freeBytes - reserveBytes - globalBytes - (long) SLOTS * maxLayer;
                    if (budget < 0) {
                        throw new IllegalStateException(String.format(java.util.Locale.ROOT,
                                "the weights need %.2f GiB of GPU memory even when streamed (non-layer tensors %.2f GiB, "
                                        + "two buffers of %.2f GiB, %.2f GiB kept free); the GPU has %.2f GiB free",
                                gib(globalBytes + SLOTS * maxLayer + reserveBytes), gib(globalBytes), gib(maxLayer),
                                gib(reserveBytes), gib(freeBytes)));
                    }
                    long used = 0;
                    boolean full = false;
                    for (int i = 0; i < n; i++) {
                        // leading layers stay resident: the first streamed layer then uploads while they compute
                        if (!full && used + layerBytes[i] <= budget) used += layerBytes[i];
                        else {
                            full = true;
                            streamed[i] = true;
                        }
                    }
                }
            }
        }
        long slot = 0, host = 0, resident = globalBytes;
        int count = 0;
        for (int i = 0; i < n; i++) {
            if (streamed[i]) {
                slot = Math.max(slot, layerBytes[i]);
                host += layerBytes[i];
                count++;
            } else {
                resident += layerBytes[i];
            }
        }
        return new WeightPlacement(mode, streamed, layerBytes, slot, resident + Math.min(SLOTS, count) * slot, host);
    }

    private static double gib(long b) { return b / (double) (1L << 30); }

    @Override
    public boolean[] streamed() { return streamed.clone(); }

    @Override
    public long[] layerBytes() { return layerBytes.clone(); }

    boolean streams(int layer) { return streamed[layer]; }

    int streamedCount() {
        int k = 0;
        for (boolean b : streamed) if (b) k++;
        return k;
    }

    /** Upload buffers to allocate: two, one when a single layer streams, none when nothing does. */
    int slots() { return Math.min(SLOTS, streamedCount()); }

    /** "weights resident" or "weights streamed: 30 of 34 layers from pinned host memory (4.1 GiB), 2 x 0.21 GiB buffers". */
    String describe() {
        int k = streamedCount();
        if (k == 0) return String.format(java.util.Locale.ROOT, "weights resident (%.2f GiB)", gib(deviceBytes));
        return String.format(java.util.Locale.ROOT,
                "weights streamed: %d of %d layers from pinned host memory (%.2f GiB), %d x %.2f GiB GPU buffers, %.2f GiB on the GPU",
                k, streamed.length, gib(hostBytes), slots(), gib(slotBytes), gib(deviceBytes));
    }

    @Override
    public boolean equals(Object o) {
        return o instanceof WeightPlacement p && p.mode == mode && Arrays.equals(p.streamed, streamed) && p.slotBytes == slotBytes
                && p.deviceBytes == deviceBytes && p.hostBytes == hostBytes;
    }

    @Override
    public int hashCode() { return Arrays.hashCode(streamed) * 31 + Long.hashCode(slotBytes); }

    @Override
    public String toString() { return mode + ": " + describe(); }
}
