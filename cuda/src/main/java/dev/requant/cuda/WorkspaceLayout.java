package dev.requant.cuda;

import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.Map;

/**
 * The plan of a {@link CudaWorkspace}: named regions at 256-byte aligned offsets in one allocation. A forward pass
 * sizes every buffer it needs up front (activations for the largest batch, the KV cache, dequantization scratch,
 * the imatrix sums), so running it allocates nothing.
 */
public final class WorkspaceLayout {
    /** cudaMalloc's own alignment; enough for any vector load and for cuBLAS. */
    public static final int ALIGNMENT = 256;

    /** A region: where it starts and how many bytes it has. */
    public record Region(String name, long offset, long bytes) {}

    private final LinkedHashMap<String, Region> regions = new LinkedHashMap<>();
    private long end;

    /** Adds a region of {@code bytes} after the previous ones. */
    public WorkspaceLayout add(String name, long bytes) {
        if (bytes < 0) throw new IllegalArgumentException(name + ": negative size " + bytes);
        if (regions.containsKey(name)) throw new IllegalArgumentException("region '" + name + "' is already planned");
        long offset = align(end);
        regions.put(name, new Region(name, offset, bytes));
        end = Math.addExact(offset, bytes);
        return this;
    }

    /** A region of {@code count} float32 values. */
    public WorkspaceLayout floats(String name, long count) { return add(name, Math.multiplyExact(count, 4L)); }

    static long align(long x) { return Math.addExact(x, ALIGNMENT - 1) & -(long) ALIGNMENT; }

    public Region region(String name) {
        Region r = regions.get(name);
        if (r == null) throw new IllegalArgumentException("no workspace region '" + name + "' (planned: " + regions.keySet() + ")");
        return r;
    }

    public Map<String, Region> regions() { return Collections.unmodifiableMap(regions); }

    /** Bytes of the allocation that holds every region. */
    public long totalBytes() { return align(end); }
}
