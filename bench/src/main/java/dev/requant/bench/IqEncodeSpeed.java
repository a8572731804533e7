package dev.requant.bench;

import dev.requant.formats.ggml.BFloat16;
import dev.requant.formats.ggml.BlockCodec;
import dev.requant.formats.ggml.GgmlType;
import dev.requant.testmodels.Golden;
import java.lang.foreign.Arena;
import java.lang.foreign.FunctionDescriptor;
import java.lang.foreign.Linker;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.SymbolLookup;
import java.lang.foreign.ValueLayout;
import java.lang.invoke.MethodHandle;
import java.util.Arrays;
import java.util.SplittableRandom;

/**
 * Single-thread encode speed of the IQ codecs beside ggml's own quantizer (ggml_quantize_chunk of the pinned
 * libggml-base, node-llama-cpp's prebuilt, through FFM) on the same rows and importance (BENCHMARKS.md, "IQ
 * encoders"). Rows of 2,048 BF16-valued Gaussian weights with 0.5% outliers, importance exp(N(0,1)) per column.
 * Passes alternate between the two (ggml, requant, ggml, ...) so that a load change on a shared machine hits both;
 * the best pass of each counts, by the thread's CPU time (on a shared machine the wall time also counts the time the
 * thread waited for a core) and by wall time. The first-use costs (ggml's iq*_init tables, our search tables and the
 * JIT's warm-up) are timed separately. The outputs are checked to be identical.
 *
 * <pre>IqEncodeSpeed [MILLION_WEIGHTS] [TYPE...]</pre>
 */
public final class IqEncodeSpeed {
    private IqEncodeSpeed() {}

    private static final int PASSES = 7;
    private static final java.lang.management.ThreadMXBean CPU = java.lang.management.ManagementFactory.getThreadMXBean();

    private static void best(double[] best, int weights, long cpuNanos, long wallNanos) {
        best[0] = Math.max(best[0], weights / (cpuNanos / 1e3));
        best[1] = Math.max(best[1], weights / (wallNanos / 1e3));
    }

    public static void main(String[] args) throws Throwable {
        int n = 2048;
        int rows = (int) Math.max(1, (args.length > 0 ? Double.parseDouble(args[0]) : 0.5) * 1e6 / n);
        String[] types = args.length > 1 ? Arrays.copyOfRange(args, 1, args.length)
                : new String[] {"IQ3_XXS", "IQ3_S", "IQ2_XXS", "IQ2_XS", "IQ2_S", "IQ1_S", "IQ1_M"};
        System.load(Golden.projectRoot().resolve("interop/node_modules/@node-llama-cpp/linux-x64/bins/linux-x64/libggml-base.so").toString());
        MethodHandle chunk = Linker.nativeLinker().downcallHandle(SymbolLookup.loaderLookup().find("ggml_quantize_chunk").orElseThrow(),
                FunctionDescriptor.of(ValueLayout.JAVA_LONG, ValueLayout.JAVA_INT, ValueLayout.ADDRESS, ValueLayout.ADDRESS,
                        ValueLayout.JAVA_LONG, ValueLayout.JAVA_LONG, ValueLayout.JAVA_LONG, ValueLayout.ADDRESS));
        SplittableRandom r = new SplittableRandom(1);
        float[] x = new float[n * rows];
        for (int i = 0; i < x.length; i++) {
            double g = r.nextGaussian() * 0.02;
            if (r.nextInt(200) == 0) g *= 6;
            x[i] = BFloat16.round((float) g);
        }
        float[] w = new float[n];
        for (int i = 0; i < n; i++) w[i] = (float) Math.exp(r.nextGaussian());
        Arena arena = Arena.global();
        MemorySegment src = arena.allocateFrom(ValueLayout.JAVA_FLOAT, x);
        MemorySegment imp = arena.allocateFrom(ValueLayout.JAVA_FLOAT, w);
        System.out.printf("%,d weights per pass (%d rows of %d), one thread, with importance%n", x.length, rows, n);
        System.out.println("type      M weights per CPU second: ggml  requant  ratio   (per wall second: ggml requant)   first use: ggml init  requant  same bytes");
        for (String name : types) {
            GgmlType type = GgmlType.valueOf(name);
            BlockCodec codec = BlockCodec.of(type);
            long rowBytes = codec.rowBytes(n);
            MemorySegment theirs = arena.allocate(rowBytes * rows, 64);
            MemorySegment ours = arena.allocate(rowBytes * rows, 64);
            long t0 = System.nanoTime(); // first use: one row each
            long unused = (long) chunk.invokeExact(type.id(), src, theirs, 0L, 1L, (long) n, imp);
            double ggmlInit = (System.nanoTime() - t0) / 1e9;
            t0 = System.nanoTime();
            codec.encodeRow(x, 0, n, w, ours, 0);
            double oursInit = (System.nanoTime() - t0) / 1e9;
            double[] ggml = new double[2], req = new double[2]; // best M weights per CPU second, per wall second
            for (int pass = 0; pass < PASSES; pass++) {
                long c0 = CPU.getCurrentThreadCpuTime();
                t0 = System.nanoTime();
                unused = (long) chunk.invokeExact(type.id(), src, theirs, 0L, (long) rows, (long) n, imp);
                best(ggml, x.length, CPU.getCurrentThreadCpuTime() - c0, System.nanoTime() - t0);
                c0 = CPU.getCurrentThreadCpuTime();
                t0 = System.nanoTime();
                for (int i = 0; i < rows; i++) codec.encodeRow(x, i * n, n, w, ours, i * rowBytes);
                best(req, x.length, CPU.getCurrentThreadCpuTime() - c0, System.nanoTime() - t0);
            }
            boolean same = theirs.mismatch(ours) == -1;
            System.out.printf("%-8s %30.2f  %7.2f  %5.2f   (%20.2f %7.2f)   %18.2f s  %5.2f s  %s%n", name, ggml[0], req[0],
                    req[0] / ggml[0], ggml[1], req[1], ggmlInit, oursInit, same);
        }
    }
}
