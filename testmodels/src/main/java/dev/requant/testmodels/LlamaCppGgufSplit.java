package dev.requant.testmodels;

import java.io.IOException;
import java.lang.foreign.Arena;
import java.lang.foreign.FunctionDescriptor;
import java.lang.foreign.GroupLayout;
import java.lang.foreign.Linker;
import java.lang.foreign.MemoryLayout;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.SymbolLookup;
import java.lang.foreign.ValueLayout;
import java.lang.invoke.MethodHandle;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.ArrayList;
import java.util.List;

/**
 * llama.cpp's {@code llama-gguf-split --split} for tests, which node-llama-cpp does not ship as a program: the steps of
 * tools/gguf-split/gguf-split.cpp (split_strategy and its write()) made with ggml's own gguf code in node-llama-cpp's
 * libggml-base, called through FFM. Which tensor goes in which shard is decided here as gguf-split decides it; the
 * header of every shard (key/values copied by gguf_set_kv, split.* set by gguf_set_val_*, tensor infos added by
 * gguf_add_tensor, offsets and padding) is ggml's serialization, the shard names llama_split_path's, and the tensor
 * data is copied as write() copies it (each tensor padded with zeros to 32 bytes). A requant split set that equals
 * these files byte for byte is what gguf-split would have written.
 *
 * <p>Not thread-safe: one call at a time.
 */
public final class LlamaCppGgufSplit {
    /** gguf_init_params: {@code bool no_alloc; struct ggml_context ** ctx;} */
    private static final GroupLayout INIT_PARAMS = MemoryLayout.structLayout(ValueLayout.JAVA_BOOLEAN.withName("no_alloc"),
            MemoryLayout.paddingLayout(7), ValueLayout.ADDRESS.withName("ctx"));
    /** GGUF_DEFAULT_ALIGNMENT, which gguf-split pads every tensor to (and sizes shards by). */
    private static final long ALIGN = 32;

    private static LlamaCppGgufSplit instance;

    private final MethodHandle initFromFile, initEmpty, free, ggmlFree, nTensors, tensorName, getTensor, nbytes, setKv, setU16, setI32,
            addTensor, metaSize, metaData, dataOffset, findTensor, tensorOffset, splitPath;

    private LlamaCppGgufSplit() {
        Linker l = Linker.nativeLinker();
        SymbolLookup libs = SymbolLookup.loaderLookup();
        ValueLayout p = ValueLayout.ADDRESS, i64 = ValueLayout.JAVA_LONG;
        initFromFile = handle(l, libs, "gguf_init_from_file", FunctionDescriptor.of(p, p, INIT_PARAMS));
        initEmpty = handle(l, libs, "gguf_init_empty", FunctionDescriptor.of(p));
        free = handle(l, libs, "gguf_free", FunctionDescriptor.ofVoid(p));
        ggmlFree = handle(l, libs, "ggml_free", FunctionDescriptor.ofVoid(p));
        nTensors = handle(l, libs, "gguf_get_n_tensors", FunctionDescriptor.of(i64, p));
        tensorName = handle(l, libs, "gguf_get_tensor_name", FunctionDescriptor.of(p, p, i64));
        getTensor = handle(l, libs, "ggml_get_tensor", FunctionDescriptor.of(p, p, p));
        nbytes = handle(l, libs, "ggml_nbytes", FunctionDescriptor.of(i64, p));
        setKv = handle(l, libs, "gguf_set_kv", FunctionDescriptor.ofVoid(p, p));
        setU16 = handle(l, libs, "gguf_set_val_u16", FunctionDescriptor.ofVoid(p, p, ValueLayout.JAVA_SHORT));
        setI32 = handle(l, libs, "gguf_set_val_i32", FunctionDescriptor.ofVoid(p, p, ValueLayout.JAVA_INT));
        addTensor = handle(l, libs, "gguf_add_tensor", FunctionDescriptor.ofVoid(p, p));
        metaSize = handle(l, libs, "gguf_get_meta_size", FunctionDescriptor.of(i64, p));
        metaData = handle(l, libs, "gguf_get_meta_data", FunctionDescriptor.ofVoid(p, p));
        dataOffset = handle(l, libs, "gguf_get_data_offset", FunctionDescriptor.of(i64, p));
        findTensor = handle(l, libs, "gguf_find_tensor", FunctionDescriptor.of(i64, p, p));
        tensorOffset = handle(l, libs, "gguf_get_tensor_offset", FunctionDescriptor.of(i64, p, i64));
        splitPath = handle(l, libs, "llama_split_path",
                FunctionDescriptor.of(ValueLayout.JAVA_INT, p, i64, p, ValueLayout.JAVA_INT, ValueLayout.JAVA_INT));
    }

    private static MethodHandle handle(Linker l, SymbolLookup libs, String name, FunctionDescriptor d) {
        return l.downcallHandle(libs.find(name).orElseThrow(() -> new IllegalStateException("no symbol " + name)), d);
    }

    /** The library (loaded by {@link LlamaCppQuantizer#forTests()}), or a skipped test as there. */
    public static synchronized LlamaCppGgufSplit forTests() {
        LlamaCppQuantizer.forTests();
        if (instance == null) instance = new LlamaCppGgufSplit();
        return instance;
    }

    /**
     * gguf-split --split IN PREFIX with {@code --split-max-size} ({@code maxBytes} > 0) or {@code --split-max-tensors}
     * ({@code maxTensors}); returns the shards written, first first.
     *
     * @throws IllegalStateException where gguf-split exits with "one of splits have 0 tensors"
     */
    public synchronized List<Path> split(Path in, String prefix, long maxBytes, int maxTensors, boolean noTensorFirstSplit) {
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment ctxMetaSlot = arena.allocate(ValueLayout.ADDRESS);
            MemorySegment params = arena.allocate(INIT_PARAMS);
            params.set(ValueLayout.JAVA_BOOLEAN, 0, true);
            params.set(ValueLayout.ADDRESS, 8, ctxMetaSlot);
            MemorySegment ctxIn = (MemorySegment) initFromFile.invokeExact(arena.allocateFrom(in.toString()), params);
            if (ctxIn.equals(MemorySegment.NULL)) throw new IllegalStateException("gguf_init_from_file failed for " + in);
            MemorySegment ctxMeta = ctxMetaSlot.get(ValueLayout.ADDRESS, 0);
            List<MemorySegment> outs = new ArrayList<>();
            try {
                int n = (int) (long) nTensors.invokeExact(ctxIn);
                // split_strategy's constructor
                MemorySegment out = newOut(arena, outs, null, ctxIn, n, false);
                if (noTensorFirstSplit) out = newOut(arena, outs, out, ctxIn, n, true);
                long current = 0;
                for (int i = 0; i < n; i++) {
                    MemorySegment t = (MemorySegment) getTensor.invokeExact(ctxMeta, (MemorySegment) tensorName.invokeExact(ctxIn, (long) i));
                    long bytes = pad((long) nbytes.invokeExact(t));
                    long next = current + bytes;
                    boolean split = maxBytes > 0 ? next > maxBytes : i > 0 && i < n && i % maxTensors == 0;
                    if (split) {
                        out = newOut(arena, outs, out, ctxIn, n, false);
                        current = bytes;
                    } else {
                        current = next;
                    }
                    addTensor.invokeExact(out, t);
                }
                outs.add(out);
                for (MemorySegment o : outs) setU16.invokeExact(o, arena.allocateFrom("split.count"), (short) outs.size());
                return write(arena, in, prefix, ctxIn, ctxMeta, outs);
            } finally {
                for (MemorySegment o : outs) free.invokeExact(o);
                free.invokeExact(ctxIn);
                ggmlFree.invokeExact(ctxMeta);
            }
        } catch (RuntimeException e) {
            throw e;
        } catch (Throwable t) {
            throw new IllegalStateException("gguf-split through libggml failed: " + t, t);
        }
    }

    /** new_ctx_out: closes {@code current} (refusing an empty one unless allowed) and starts the next shard's context. */
    private MemorySegment newOut(Arena arena, List<MemorySegment> outs, MemorySegment current, MemorySegment ctxIn, int n,
            boolean allowNoTensors) throws Throwable {
        if (current != null) {
            outs.add(current);
            if (!allowNoTensors && (long) nTensors.invokeExact(current) == 0) {
                throw new IllegalStateException("error: one of splits have 0 tensors. Maybe size or tensors limit is too small");
            }
        }
        MemorySegment ctx = (MemorySegment) initEmpty.invokeExact();
        if (outs.isEmpty()) setKv.invokeExact(ctx, ctxIn);
        setU16.invokeExact(ctx, arena.allocateFrom("split.no"), (short) outs.size());
        setU16.invokeExact(ctx, arena.allocateFrom("split.count"), (short) 0);
        setI32.invokeExact(ctx, arena.allocateFrom("split.tensors.count"), n);
        return ctx;
    }

    private List<Path> write(Arena arena, Path in, String prefix, MemorySegment ctxIn, MemorySegment ctxMeta, List<MemorySegment> outs)
            throws Throwable {
        List<Path> paths = new ArrayList<>();
        long base = (long) dataOffset.invokeExact(ctxIn);
        try (FileChannel src = FileChannel.open(in, StandardOpenOption.READ)) {
            for (int s = 0; s < outs.size(); s++) {
                MemorySegment ctx = outs.get(s);
                MemorySegment name = arena.allocate(4096);
                int len = (int) splitPath.invokeExact(name, 4096L, arena.allocateFrom(prefix), s, outs.size());
                Path p = Path.of(name.getString(0));
                if (len <= 0) throw new IllegalStateException("llama_split_path failed");
                try (FileChannel o = FileChannel.open(p, StandardOpenOption.CREATE, StandardOpenOption.TRUNCATE_EXISTING, StandardOpenOption.WRITE)) {
                    MemorySegment meta = arena.allocate((long) metaSize.invokeExact(ctx));
                    metaData.invokeExact(ctx, meta);
                    writeFully(o, meta.asByteBuffer());
                    int nt = (int) (long) nTensors.invokeExact(ctx);
                    for (int i = 0; i < nt; i++) {
                        MemorySegment tname = (MemorySegment) tensorName.invokeExact(ctx, (long) i);
                        long size = (long) nbytes.invokeExact((MemorySegment) getTensor.invokeExact(ctxMeta, tname));
                        long id = (long) findTensor.invokeExact(ctxIn, tname);
                        long at = base + (long) tensorOffset.invokeExact(ctxIn, id);
                        for (long done = 0; done < size; ) {
                            long k = src.transferTo(at + done, size - done, o);
                            if (k <= 0) throw new IOException(in + ": truncated");
                            done += k;
                        }
                        writeFully(o, ByteBuffer.allocate((int) (pad(size) - size)));
                    }
                }
                paths.add(p);
            }
        }
        return paths;
    }

    private static void writeFully(FileChannel o, ByteBuffer b) throws IOException {
        while (b.hasRemaining()) o.write(b);
    }

    private static long pad(long n) {
        return (n + ALIGN - 1) / ALIGN * ALIGN;
    }
}
