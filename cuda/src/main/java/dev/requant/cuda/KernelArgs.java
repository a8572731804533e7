package dev.requant.cuda;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;

/**
 * The {@code void** kernelParams} of cuLaunchKernel, reused from launch to launch (the driver copies the values at
 * launch time), so launching allocates nothing. Each argument takes an 8-byte slot. Not thread-safe: one per thread.
 */
public final class KernelArgs {
    private static final int MAX = 32;
    private final MemorySegment values;
    private final MemorySegment pointers;
    private int n;

    public KernelArgs() {
        Arena arena = Arena.ofAuto();
        values = arena.allocate(8L * MAX, 8);
        pointers = arena.allocate(ValueLayout.ADDRESS, MAX);
        for (int i = 0; i < MAX; i++) pointers.setAtIndex(ValueLayout.ADDRESS, i, values.asSlice(8L * i, 8));
    }

    public KernelArgs reset() {
        n = 0;
        return this;
    }

    private long slot() {
        if (n == MAX) throw new IllegalStateException("more than " + MAX + " kernel arguments");
        return 8L * n++;
    }

    public KernelArgs ptr(DeviceBuffer b) { return i64(b == null ? 0L : b.address()); }

    public KernelArgs ptr(long address) { return i64(address); }

    public KernelArgs i32(int v) {
        values.set(ValueLayout.JAVA_INT, slot(), v);
        return this;
    }

    public KernelArgs i64(long v) {
        values.set(ValueLayout.JAVA_LONG, slot(), v);
        return this;
    }

    public KernelArgs f32(float v) {
        values.set(ValueLayout.JAVA_FLOAT, slot(), v);
        return this;
    }

    MemorySegment pointers() { return pointers; }
}
