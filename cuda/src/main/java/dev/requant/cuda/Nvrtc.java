package dev.requant.cuda;

import static java.lang.foreign.ValueLayout.ADDRESS;
import static java.lang.foreign.ValueLayout.JAVA_INT;
import static java.lang.foreign.ValueLayout.JAVA_LONG;

import java.lang.foreign.Arena;
import java.lang.foreign.FunctionDescriptor;
import java.lang.foreign.MemorySegment;
import java.lang.invoke.MethodHandle;
import java.util.List;

/**
 * NVRTC (libnvrtc.so.13 or .12) through FFM: CUDA C source to a cubin for one real architecture
 * ({@code --gpu-architecture=sm_XX}). A cubin holds machine code only, so no PTX has to be JIT-compiled by the
 * driver, and an NVRTC newer than the driver does not hit CUDA_ERROR_UNSUPPORTED_PTX_VERSION.
 */
public final class Nvrtc implements KernelCache.Compiler {
    private final String library;
    private final MethodHandle nvrtcVersion, nvrtcCreateProgram, nvrtcCompileProgram, nvrtcGetProgramLogSize,
            nvrtcGetProgramLog, nvrtcGetCUBINSize, nvrtcGetCUBIN, nvrtcDestroyProgram, nvrtcGetErrorString;
    private final int major, minor;

    private Nvrtc(NativeLibrary lib) throws CudaUnavailableException {
        library = lib.name();
        nvrtcVersion = lib.function(FunctionDescriptor.of(JAVA_INT, ADDRESS, ADDRESS), "nvrtcVersion");
        nvrtcCreateProgram = lib.function(FunctionDescriptor.of(JAVA_INT, ADDRESS, ADDRESS, ADDRESS, JAVA_INT, ADDRESS, ADDRESS), "nvrtcCreateProgram");
        nvrtcCompileProgram = lib.function(FunctionDescriptor.of(JAVA_INT, ADDRESS, JAVA_INT, ADDRESS), "nvrtcCompileProgram");
        nvrtcGetProgramLogSize = lib.function(FunctionDescriptor.of(JAVA_INT, ADDRESS, ADDRESS), "nvrtcGetProgramLogSize");
        nvrtcGetProgramLog = lib.function(FunctionDescriptor.of(JAVA_INT, ADDRESS, ADDRESS), "nvrtcGetProgramLog");
        nvrtcGetCUBINSize = lib.function(FunctionDescriptor.of(JAVA_INT, ADDRESS, ADDRESS), "nvrtcGetCUBINSize");
        nvrtcGetCUBIN = lib.function(FunctionDescriptor.of(JAVA_INT, ADDRESS, ADDRESS), "nvrtcGetCUBIN");
        nvrtcDestroyProgram = lib.function(FunctionDescriptor.of(JAVA_INT, ADDRESS), "nvrtcDestroyProgram");
        nvrtcGetErrorString = lib.function(FunctionDescriptor.of(ADDRESS, JAVA_INT), "nvrtcGetErrorString");
        try (Arena a = Arena.ofConfined()) {
            MemorySegment ma = a.allocate(JAVA_INT), mi = a.allocate(JAVA_INT);
            check((int) nvrtcVersion.invokeExact(ma, mi), "nvrtcVersion");
            major = ma.get(JAVA_INT, 0);
            minor = mi.get(JAVA_INT, 0);
        } catch (CudaException e) {
            throw new CudaUnavailableException(library + ": nvrtcVersion failed: " + e.getMessage(), e);
        } catch (Throwable t) {
            throw new CudaUnavailableException(library + ": " + t, t);
        }
    }

    /** Finds and loads NVRTC (CUDA 13 first, then 12). */
    public static Nvrtc load(CudaLibraries libs) throws CudaUnavailableException {
        var path = libs.find(CudaLibraries.NVRTC);
        if (path.isPresent()) return new Nvrtc(NativeLibrary.byPath(path.get()));
        for (String name : CudaLibraries.NVRTC) {
            var lib = NativeLibrary.byName(name);
            if (lib.isPresent()) return new Nvrtc(lib.get());
        }
        throw new CudaUnavailableException(libs.describeMissing(CudaLibraries.NVRTC));
    }

    public String library() { return library; }

    /** "13.0" and the like: part of the kernel cache key. */
    @Override
    public String version() { return major + "." + minor; }

    private String errorString(int code) {
        try {
            MemorySegment s = (MemorySegment) nvrtcGetErrorString.invokeExact(code);
            return s.reinterpret(256).getString(0);
        } catch (Throwable t) {
            return "NVRTC error";
        }
    }

    private void check(int rc, String call) {
        if (rc != 0) throw new CudaException(call, rc, errorString(rc));
    }

    /**
     * Compiles {@code source} to a cubin. A compile error is a CudaException carrying NVRTC's log.
     *
     * @param options e.g. {@code --gpu-architecture=sm_90}, {@code -std=c++17}
     */
    @Override
    public byte[] compileToCubin(String source, String name, List<String> options) {
        try (Arena a = Arena.ofConfined()) {
            MemorySegment prog = a.allocate(ADDRESS);
            check((int) nvrtcCreateProgram.invokeExact(prog, a.allocateFrom(source), a.allocateFrom(name), 0,
                    MemorySegment.NULL, MemorySegment.NULL), "nvrtcCreateProgram");
            MemorySegment p = prog.get(ADDRESS, 0);
            try {
                MemorySegment opts = a.allocate(ADDRESS, Math.max(1, options.size()));
                for (int i = 0; i < options.size(); i++) opts.setAtIndex(ADDRESS, i, a.allocateFrom(options.get(i)));
                int rc = (int) nvrtcCompileProgram.invokeExact(p, options.size(), opts);
                String log = log(a, p);
                if (rc != 0) {
                    throw new CudaException("NVRTC (" + library + " " + version() + ") could not compile " + name
                            + " with " + options + ": " + errorString(rc) + "\n" + log.strip());
                }
                MemorySegment size = a.allocate(JAVA_LONG);
                check((int) nvrtcGetCUBINSize.invokeExact(p, size), "nvrtcGetCUBINSize");
                MemorySegment cubin = a.allocate(size.get(JAVA_LONG, 0));
                check((int) nvrtcGetCUBIN.invokeExact(p, cubin), "nvrtcGetCUBIN");
                return cubin.toArray(java.lang.foreign.ValueLayout.JAVA_BYTE);
            } finally {
                int ignored = (int) nvrtcDestroyProgram.invokeExact(prog);
            }
        } catch (RuntimeException | Error e) {
            throw e;
        } catch (Throwable t) {
            throw new IllegalStateException(t);
        }
    }

    private String log(Arena a, MemorySegment p) throws Throwable {
        MemorySegment size = a.allocate(JAVA_LONG);
        check((int) nvrtcGetProgramLogSize.invokeExact(p, size), "nvrtcGetProgramLogSize");
        long n = size.get(JAVA_LONG, 0);
        if (n <= 1) return "";
        MemorySegment log = a.allocate(n);
        check((int) nvrtcGetProgramLog.invokeExact(p, log), "nvrtcGetProgramLog");
        return log.getString(0);
    }
}
