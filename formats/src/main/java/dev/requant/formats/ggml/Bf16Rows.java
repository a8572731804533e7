package dev.requant.formats.ggml;

import dev.requant.formats.io.LittleEndian;
import java.lang.foreign.MemorySegment;

/**
 * Widening raw BF16 data (a GGUF BF16 tensor, a safetensors BF16 tensor) to floats, exactly, optionally checking on the
 * way that no value is NaN or infinite (what {@link FiniteCheck} does after widening, in the same pass).
 *
 * <p>Two kernels. The plain loop, which C2 compiles in milliseconds and which runs at 0.4-0.65 ns per weight on the
 * shared 2-core EPYC VM, is what every caller gets by default: a Vector API kernel runs as boxed Java code at some
 * 35 ns per weight until C2 has compiled it, and that warm-up was a visible share of a quantization of a small model
 * (BENCHMARKS.md, "Start-up of the cheap types"). The vector kernel (0.1 ns per weight with the finite check, against
 * 0.85 for the loop plus {@link FiniteCheck}) takes over once {@link #warmUp} has seen it compiled, which a command
 * with a billion weights to read starts on a background thread. Both give the same floats and the same answer.
 */
public final class Bf16Rows {
    private Bf16Rows() {}

    /**
     * Whether the vector kernel can run here at all (-Drequant.vector=false: never). It lives in a class of its own,
     * {@link Bf16RowsVector}, loaded only then: this class must work in a JVM without the jdk.incubator.vector module.
     */
    private static final boolean VECTOR = VectorSupport.enabled() && Bf16RowsVector.supported();
    private static volatile boolean vectorWarm;

    /** Widens {@code n} BF16 values at byte {@code srcOffset} of {@code src} into {@code dst[dstOffset..]}. */
    public static void toFloat(MemorySegment src, long srcOffset, float[] dst, int dstOffset, int n) {
        if (vectorWarm) toFloatFiniteVector(src, srcOffset, dst, dstOffset, n);
        else toFloatScalar(src, srcOffset, dst, dstOffset, n);
    }

    /** As {@link #toFloat}; returns whether every value is finite (no NaN, no infinity). */
    public static boolean toFloatFinite(MemorySegment src, long srcOffset, float[] dst, int dstOffset, int n) {
        return vectorWarm ? toFloatFiniteVector(src, srcOffset, dst, dstOffset, n) : toFloatFiniteScalar(src, srcOffset, dst, dstOffset, n);
    }

    static void toFloatScalar(MemorySegment src, long srcOffset, float[] dst, int dstOffset, int n) {
        for (int i = 0; i < n; i++) dst[dstOffset + i] = BFloat16.toFloat(src.get(LittleEndian.SHORT, srcOffset + 2L * i));
    }

    /** {@code dst[dstOffset + i] = } the BF16 value {@code src[srcOffset + i]}, for {@code i < n}. */
    static void widen(short[] src, int srcOffset, float[] dst, int dstOffset, int n) {
        for (int i = 0; i < n; i++) dst[dstOffset + i] = BFloat16.toFloat(src[srcOffset + i]);
    }

    /**
     * The vector kernel with the finite check, a chunk at a time from an array that one bulk copy filled, not from the
     * segment: C2 compiles segment reads for the kind of segment it has seen, the warm-up's native memory, and a
     * model's mapped file then took a class-check trap; until C2 had compiled the kernel again (0.1 s, or much longer
     * behind a busy compile queue), the encoders widened through the Vector API's boxed fallback at 35 ns a value. An
     * array is one kind. The copy costs nothing measurable (0.18 ns a value with it and without, one EPYC core).
     */
    static boolean toFloatFiniteVector(MemorySegment src, long srcOffset, float[] dst, int dstOffset, int n) {
        short[] chunk = CHUNK.get();
        boolean finite = true;
        for (int done = 0; done < n; done += chunk.length) {
            int m = Math.min(chunk.length, n - done);
            MemorySegment.copy(src, LittleEndian.SHORT, srcOffset + 2L * done, chunk, 0, m);
            finite &= Bf16RowsVector.toFloatFinite(chunk, 0, dst, dstOffset + done, m);
        }
        return finite;
    }

    /** {@link #toFloatFiniteVector}'s array, one per thread. */
    private static final ThreadLocal<short[]> CHUNK = ThreadLocal.withInitial(() -> new short[4096]);

    /** The reference: widening, then {@link FiniteCheck}'s test of the floats. */
    static boolean toFloatFiniteScalar(MemorySegment src, long srcOffset, float[] dst, int dstOffset, int n) {
        toFloatScalar(src, srcOffset, dst, dstOffset, n);
        return FiniteCheck.allFinite(dst, dstOffset, dstOffset + n);
    }

    private static final int WARM_VALUES = 4096;
    /** The vector kernel must take at most this fraction of the loop's time to count as compiled. */
    private static final double SPEED_UP = 0.5;
    /** A warm-up that has not seen the kernel win after this many calls gives up; the loop stays. */
    private static final int MAX_CALLS = 50_000;

    /**
     * Runs the vector kernel on a synthetic buffer until C2 has compiled it (it beats the plain loop by
     * {@link #SPEED_UP}), then lets every caller use it. For a background thread at the start of a command that reads
     * a large BF16 model; once per process. Returns whether the vector kernel is now in use.
     */
    public static boolean warmUp() {
        if (!VECTOR) return false;
        synchronized (Bf16Rows.class) {
            if (vectorWarm) return true;
            // native memory as a model's mapping is (the bulk copies), and a length with a tail, so that C2 compiles the
            // paths real reads take
            MemorySegment src = java.lang.foreign.Arena.ofAuto().allocate(2L * WARM_VALUES);
            for (int i = 0; i < WARM_VALUES; i++) src.setAtIndex(java.lang.foreign.ValueLayout.JAVA_SHORT, i, BFloat16.fromFloat((float) Math.sin(i)));
            float[] dst = new float[WARM_VALUES];
            int n = WARM_VALUES - 5;
            long bestScalar = Long.MAX_VALUE, bestVector = Long.MAX_VALUE;
            for (int call = 0; call < MAX_CALLS; call++) {
                if (call % 16 == 0) {
                    long t = System.nanoTime();
                    toFloatFiniteScalar(src, 2, dst, 1, n);
                    bestScalar = Math.min(bestScalar, System.nanoTime() - t);
                    bestVector = Long.MAX_VALUE;
                }
                long t = System.nanoTime();
                toFloatFiniteVector(src, 2, dst, 1, n);
                bestVector = Math.min(bestVector, System.nanoTime() - t);
                if (call >= 32 && bestVector <= SPEED_UP * bestScalar) {
                    vectorWarm = true;
                    return true;
                }
            }
            return false;
        }
    }
}
