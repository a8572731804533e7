package dev.requant.testmodels;

import java.lang.foreign.Arena;
import java.lang.foreign.FunctionDescriptor;
import java.lang.foreign.Linker;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.SymbolLookup;
import java.lang.foreign.ValueLayout;
import java.lang.invoke.MethodHandle;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import org.opentest4j.TestAbortedException;

/**
 * ggml's own block quantizers and dequantizers, from the libggml-base that node-llama-cpp 3.22.1 ships (the library
 * llama_model_quantize calls, so the exact build the codecs must match, FMA contraction or not), called through FFM:
 * {@code ggml_quantize_chunk} (what llama-quantize runs per chunk of rows, imatrix included) and
 * {@code dequantize_row_<type>}. For tests that compare codecs with ggml on arbitrary inputs.
 */
public final class LlamaCppGgml {
    private static final String LIB = "interop/node_modules/@node-llama-cpp/linux-x64/bins/linux-x64/libggml-base.so";
    private static LlamaCppGgml instance;

    private final MethodHandle quantizeChunk;
    private final SymbolLookup lookup;
    private final Map<String, MethodHandle> dequantizers = new ConcurrentHashMap<>();

    private LlamaCppGgml(MethodHandle quantizeChunk, SymbolLookup lookup) {
        this.quantizeChunk = quantizeChunk;
        this.lookup = lookup;
    }

    /** The library, or a skipped test (a failed one when {@value LlamaCppProbe#REQUIRE_ENV} is set). */
    public static synchronized LlamaCppGgml forTests() {
        String why;
        try {
            return load();
        } catch (RuntimeException | LinkageError e) {
            why = e.getMessage();
        }
        String env = System.getenv(LlamaCppProbe.REQUIRE_ENV);
        if (env != null && !env.isEmpty() && !env.equals("0")) {
            throw new AssertionError("llama.cpp interop is required (" + LlamaCppProbe.REQUIRE_ENV + "=" + env + ") but unavailable: " + why);
        }
        throw new TestAbortedException("node-llama-cpp's libggml-base is not available: " + why);
    }

    public static synchronized LlamaCppGgml load() {
        if (instance != null) return instance;
        Path lib = Golden.projectRoot().resolve(LIB);
        if (!Files.isRegularFile(lib)) throw new IllegalStateException(lib + " is missing (run scripts/test-prepare-interop.sh)");
        System.load(lib.toString());
        SymbolLookup lookup = SymbolLookup.loaderLookup();
        MethodHandle q = Linker.nativeLinker().downcallHandle(lookup.find("ggml_quantize_chunk").orElseThrow(),
                FunctionDescriptor.of(ValueLayout.JAVA_LONG, ValueLayout.JAVA_INT, ValueLayout.ADDRESS, ValueLayout.ADDRESS,
                        ValueLayout.JAVA_LONG, ValueLayout.JAVA_LONG, ValueLayout.JAVA_LONG, ValueLayout.ADDRESS));
        instance = new LlamaCppGgml(q, lookup);
        return instance;
    }

    /**
     * ggml_quantize_chunk(type, x, dst, 0, rows, nPerRow, importance): the bytes ggml makes of {@code rows} rows of
     * {@code x}, with {@code importance} (one weight per column) or without (null).
     */
    public synchronized byte[] quantize(int typeId, float[] x, int rows, int nPerRow, float[] importance, int rowBytes) {
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment src = arena.allocateFrom(ValueLayout.JAVA_FLOAT, x);
            MemorySegment dst = arena.allocate((long) rowBytes * rows, 64);
            MemorySegment imat = importance == null ? MemorySegment.NULL : arena.allocateFrom(ValueLayout.JAVA_FLOAT, importance);
            long written = (long) quantizeChunk.invokeExact(typeId, src, dst, 0L, (long) rows, (long) nPerRow, imat);
            if (written != (long) rowBytes * rows) throw new IllegalStateException("ggml_quantize_chunk wrote " + written + " bytes");
            return dst.toArray(ValueLayout.JAVA_BYTE);
        } catch (RuntimeException e) {
            throw e;
        } catch (Throwable t) {
            throw new IllegalStateException("ggml_quantize_chunk failed to run: " + t, t);
        }
    }

    /**
     * ggml_quantize_chunk on native memory the caller owns (for timing without the copies): {@code importance} may be
     * {@link MemorySegment#NULL}. Returns the bytes written.
     */
    public long quantize(int typeId, MemorySegment src, MemorySegment dst, int rows, int nPerRow, MemorySegment importance) {
        try {
            return (long) quantizeChunk.invokeExact(typeId, src, dst, 0L, (long) rows, (long) nPerRow, importance);
        } catch (Throwable t) {
            throw new IllegalStateException("ggml_quantize_chunk failed to run: " + t, t);
        }
    }

    /** dequantize_row_{@code ggmlName}(bytes, y, n): ggml's decoding of {@code n} elements. */
    public float[] dequantize(String ggmlName, byte[] bytes, int n) {
        MethodHandle h = dequantizers.computeIfAbsent(ggmlName, name -> Linker.nativeLinker().downcallHandle(
                lookup.find("dequantize_row_" + name).orElseThrow(() -> new IllegalArgumentException("no dequantize_row_" + name)),
                FunctionDescriptor.ofVoid(ValueLayout.ADDRESS, ValueLayout.ADDRESS, ValueLayout.JAVA_LONG)));
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment src = arena.allocateFrom(ValueLayout.JAVA_BYTE, bytes);
            MemorySegment dst = arena.allocate(4L * n, 64);
            h.invokeExact(src, dst, (long) n);
            return dst.toArray(ValueLayout.JAVA_FLOAT);
        } catch (RuntimeException e) {
            throw e;
        } catch (Throwable t) {
            throw new IllegalStateException("dequantize_row_" + ggmlName + " failed to run: " + t, t);
        }
    }
}
