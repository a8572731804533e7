package dev.requant.testmodels;

import java.lang.foreign.Arena;
import java.lang.foreign.FunctionDescriptor;
import java.lang.foreign.GroupLayout;
import java.lang.foreign.Linker;
import java.lang.foreign.MemoryLayout;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.SegmentAllocator;
import java.lang.foreign.SymbolLookup;
import java.lang.foreign.ValueLayout;
import java.lang.invoke.MethodHandle;
import java.lang.invoke.MethodHandles;
import java.lang.invoke.MethodType;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import org.opentest4j.TestAbortedException;

/**
 * The real llama-quantize, for tests and benchmarks: {@code llama_model_quantize} of the libllama that node-llama-cpp
 * 3.22.1 ships (llama.cpp release v0.5.0; installed by {@code scripts/test-prepare-interop.sh}), called through FFM.
 * llama-quantize's main() adds only argument parsing and imatrix loading around this call; {@link Params} carries
 * what it passes, including the quantize.imatrix.* keys it writes as KV overrides.
 *
 * <p>Not thread-safe: one call at a time (llama.cpp's logger is process-wide).
 */
public final class LlamaCppQuantizer {
    private static final String BINS = "interop/node_modules/@node-llama-cpp/linux-x64/bins/linux-x64";
    /** llama_model_quantize_params of include/llama.h at v0.5.0 (x86-64 SysV layout, 64 bytes). */
    private static final GroupLayout PARAMS = MemoryLayout.structLayout(
            ValueLayout.JAVA_INT.withName("nthread"), ValueLayout.JAVA_INT.withName("ftype"),
            ValueLayout.JAVA_INT.withName("output_tensor_type"), ValueLayout.JAVA_INT.withName("token_embedding_type"),
            ValueLayout.JAVA_BOOLEAN.withName("allow_requantize"), ValueLayout.JAVA_BOOLEAN.withName("quantize_output_tensor"),
            ValueLayout.JAVA_BOOLEAN.withName("only_copy"), ValueLayout.JAVA_BOOLEAN.withName("pure"),
            ValueLayout.JAVA_BOOLEAN.withName("keep_split"), ValueLayout.JAVA_BOOLEAN.withName("dry_run"),
            MemoryLayout.paddingLayout(2),
            ValueLayout.ADDRESS.withName("imatrix"), ValueLayout.ADDRESS.withName("kv_overrides"),
            ValueLayout.ADDRESS.withName("tt_overrides"), ValueLayout.ADDRESS.withName("prune_layers"),
            ValueLayout.JAVA_LONG.withName("max_buf_size"));
    /** GGML_TYPE_COUNT at v0.5.0: "not set" for the two type options. */
    public static final int TYPE_UNSET = 43;
    private static final int KV_INT = 0, KV_FLOAT = 1, KV_BOOL = 2, KV_STR = 3, KV_SIZE = 264, KV_VALUE = 136;

    private static LlamaCppQuantizer instance;

    private final MethodHandle quantize;
    private final MethodHandle defaults;

    private LlamaCppQuantizer(MethodHandle quantize, MethodHandle defaults) {
        this.quantize = quantize;
        this.defaults = defaults;
    }

    /**
     * What llama-quantize hands to llama_model_quantize.
     *
     * @param ftype llama_ftype (2 = Q4_0, 15 = Q4_K_M, ...)
     * @param outputTensorType ggml type id or {@link #TYPE_UNSET}
     * @param tokenEmbeddingType ggml type id or {@link #TYPE_UNSET}
     * @param tensorTypes --tensor-type pairs (pattern already lower-cased) with ggml type ids, in order
     * @param imatrix per weight name the mean-square values (empty: no imatrix)
     * @param kvOverrides keys written at the end (--override-kv, then llama-quantize's imatrix keys): String values as
     *     STR, Long as INT, Double as FLOAT, Boolean as BOOL
     * @param keepSplit --keep-split (the output path is then the prefix of the shard names)
     * @param pruneLayers --prune-layers, sorted and distinct
     */
    public record Params(int ftype, int threads, boolean pure, boolean quantizeOutputTensor, int outputTensorType,
                         int tokenEmbeddingType, boolean allowRequantize, List<Map.Entry<String, Integer>> tensorTypes,
                         Map<String, float[]> imatrix, List<Map.Entry<String, Object>> kvOverrides, boolean dryRun,
                         boolean keepSplit, List<Integer> pruneLayers) {
        public Params(int ftype, int threads, boolean pure, boolean quantizeOutputTensor, int outputTensorType, int tokenEmbeddingType,
                      boolean allowRequantize, List<Map.Entry<String, Integer>> tensorTypes, Map<String, float[]> imatrix,
                      List<Map.Entry<String, Object>> kvOverrides, boolean dryRun) {
            this(ftype, threads, pure, quantizeOutputTensor, outputTensorType, tokenEmbeddingType, allowRequantize, tensorTypes, imatrix,
                    kvOverrides, dryRun, false, List.of());
        }

        public static Params of(int ftype, int threads) {
            return new Params(ftype, threads, false, true, TYPE_UNSET, TYPE_UNSET, false, List.of(), Map.of(), List.of(), false);
        }
    }

    /** The library, or a skipped test (a failed one when {@value LlamaCppProbe#REQUIRE_ENV} is set). */
    public static synchronized LlamaCppQuantizer forTests() {
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
        throw new TestAbortedException("llama.cpp's libllama is not available: " + why);
    }

    /** Loads the node-llama-cpp libraries from the project's interop folder (once). */
    public static synchronized LlamaCppQuantizer load() {
        if (instance != null) return instance;
        Path dir = Golden.projectRoot().resolve(BINS);
        if (!Files.isDirectory(dir)) throw new IllegalStateException(dir + " is missing (run scripts/test-prepare-interop.sh)");
        for (String lib : List.of("libggml-base.so", "libggml.v0.5.0.so", "libllama.v0.5.0.so")) System.load(dir.resolve(lib).toString());
        Linker linker = Linker.nativeLinker();
        SymbolLookup libs = SymbolLookup.loaderLookup();
        try {
            MethodHandle noLog = MethodHandles.lookup().findStatic(LlamaCppQuantizer.class, "ignoreLog",
                    MethodType.methodType(void.class, int.class, MemorySegment.class, MemorySegment.class));
            FunctionDescriptor logFn = FunctionDescriptor.ofVoid(ValueLayout.JAVA_INT, ValueLayout.ADDRESS, ValueLayout.ADDRESS);
            MemorySegment callback = linker.upcallStub(noLog, logFn, Arena.global());
            linker.downcallHandle(libs.find("llama_log_set").orElseThrow(), FunctionDescriptor.ofVoid(ValueLayout.ADDRESS, ValueLayout.ADDRESS))
                    .invokeExact(callback, MemorySegment.NULL);
            linker.downcallHandle(libs.find("llama_backend_init").orElseThrow(), FunctionDescriptor.ofVoid()).invokeExact();
        } catch (Throwable t) {
            throw new IllegalStateException("cannot initialize libllama: " + t, t);
        }
        MethodHandle q = linker.downcallHandle(libs.find("llama_model_quantize").orElseThrow(),
                FunctionDescriptor.of(ValueLayout.JAVA_INT, ValueLayout.ADDRESS, ValueLayout.ADDRESS, ValueLayout.ADDRESS));
        MethodHandle d = linker.downcallHandle(libs.find("llama_model_quantize_default_params").orElseThrow(), FunctionDescriptor.of(PARAMS));
        instance = new LlamaCppQuantizer(q, d);
        return instance;
    }

    @SuppressWarnings("unused")
    private static void ignoreLog(int level, MemorySegment text, MemorySegment user) {
        // llama.cpp logs every tensor; tests compare files, not logs.
    }

    /** Runs llama_model_quantize (with --keep-split when {@link Params#keepSplit()}); returns its status (0 = success, 1 = it failed and logged why). */
    public synchronized int quantize(Path in, Path out, Params p) {
        return quantize(in, out, p, false);
    }

    /**
     * The same with --keep-split when {@code keepSplit} or {@link Params#keepSplit()}: a split input is written as shards like its own, named by llama_split_path with
     * {@code out} as the prefix ({@code out-00001-of-0000N.gguf}).
     */
    public synchronized int quantize(Path in, Path out, Params p, boolean keepSplit) {
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment params = (MemorySegment) defaults.invokeExact((SegmentAllocator) arena);
            params.set(ValueLayout.JAVA_INT, 0, p.threads());
            params.set(ValueLayout.JAVA_INT, 4, p.ftype());
            params.set(ValueLayout.JAVA_INT, 8, p.outputTensorType());
            params.set(ValueLayout.JAVA_INT, 12, p.tokenEmbeddingType());
            params.set(ValueLayout.JAVA_BOOLEAN, 16, p.allowRequantize());
            params.set(ValueLayout.JAVA_BOOLEAN, 17, p.quantizeOutputTensor());
            params.set(ValueLayout.JAVA_BOOLEAN, 19, p.pure());
            // keep_split comes from either the argument or Params (two merged branches each added one way to ask):
            // writing it once, from both, so that neither silently overrides the other.
            params.set(ValueLayout.JAVA_BOOLEAN, 20, keepSplit || p.keepSplit());
            params.set(ValueLayout.JAVA_BOOLEAN, 21, p.dryRun());
            if (!p.imatrix().isEmpty()) {
                MemorySegment arr = arena.allocate(24L * (p.imatrix().size() + 1), 8);
                int i = 0;
                for (var e : p.imatrix().entrySet()) {
                    arr.set(ValueLayout.ADDRESS, 24L * i, arena.allocateFrom(e.getKey()));
                    arr.set(ValueLayout.ADDRESS, 24L * i + 8, arena.allocateFrom(ValueLayout.JAVA_FLOAT, e.getValue()));
                    arr.set(ValueLayout.JAVA_LONG, 24L * i + 16, e.getValue().length);
                    i++;
                }
                params.set(ValueLayout.ADDRESS, 24, arr);
            }
            if (!p.kvOverrides().isEmpty()) {
                MemorySegment kv = arena.allocate((long) KV_SIZE * (p.kvOverrides().size() + 1), 8);
                int i = 0;
                for (var e : p.kvOverrides()) {
                    long base = (long) KV_SIZE * i++;
                    copyCString(kv, base + 4, e.getKey(), 127);
                    if (e.getValue() instanceof String s) {
                        kv.set(ValueLayout.JAVA_INT, base, KV_STR);
                        copyCString(kv, base + KV_VALUE, s, 127);
                    } else if (e.getValue() instanceof Double d) {
                        kv.set(ValueLayout.JAVA_INT, base, KV_FLOAT);
                        kv.set(ValueLayout.JAVA_DOUBLE, base + KV_VALUE, d);
                    } else if (e.getValue() instanceof Boolean b) {
                        kv.set(ValueLayout.JAVA_INT, base, KV_BOOL);
                        kv.set(ValueLayout.JAVA_BOOLEAN, base + KV_VALUE, b);
                    } else {
                        kv.set(ValueLayout.JAVA_INT, base, KV_INT);
                        kv.set(ValueLayout.JAVA_LONG, base + KV_VALUE, ((Number) e.getValue()).longValue());
                    }
                }
                params.set(ValueLayout.ADDRESS, 32, kv); // the zeroed entry after the last ends the list (key[0] == 0)
            }
            if (!p.tensorTypes().isEmpty()) {
                MemorySegment tt = arena.allocate(16L * (p.tensorTypes().size() + 1), 8);
                int i = 0;
                for (var e : p.tensorTypes()) {
                    tt.set(ValueLayout.ADDRESS, 16L * i, arena.allocateFrom(e.getKey()));
                    tt.set(ValueLayout.JAVA_INT, 16L * i + 8, e.getValue());
                    i++;
                }
                tt.set(ValueLayout.JAVA_INT, 16L * i + 8, TYPE_UNSET);
                params.set(ValueLayout.ADDRESS, 40, tt);
            }
            if (!p.pruneLayers().isEmpty()) {
                MemorySegment pl = arena.allocate(4L * (p.pruneLayers().size() + 1), 4);
                for (int i = 0; i < p.pruneLayers().size(); i++) pl.setAtIndex(ValueLayout.JAVA_INT, i, p.pruneLayers().get(i));
                pl.setAtIndex(ValueLayout.JAVA_INT, p.pruneLayers().size(), -1);
                params.set(ValueLayout.ADDRESS, 48, pl);
            }
            return (int) quantize.invokeExact(arena.allocateFrom(in.toString()), arena.allocateFrom(out.toString()), params);
        } catch (Throwable t) {
            throw new IllegalStateException("llama_model_quantize failed to run: " + t, t);
        }
    }

    /** strncpy(dst, s, max) of the UTF-8 bytes; the arena memory is zeroed, so the string stays terminated. */
    private static void copyCString(MemorySegment dst, long at, String s, int max) {
        byte[] b = s.getBytes(StandardCharsets.UTF_8);
        MemorySegment.copy(b, 0, dst, ValueLayout.JAVA_BYTE, at, Math.min(b.length, max));
    }
}
