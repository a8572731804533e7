package dev.requant.cuda;

import java.lang.foreign.Arena;
import java.lang.foreign.FunctionDescriptor;
import java.lang.foreign.Linker;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.SymbolLookup;
import java.lang.invoke.MethodHandle;
import java.nio.file.Path;
import java.util.Optional;

/** A shared library opened for the life of the JVM, with downcall handles by symbol name. */
final class NativeLibrary {
    private static final Linker LINKER = Linker.nativeLinker();

    private final String name;
    private final SymbolLookup lookup;

    private NativeLibrary(String name, SymbolLookup lookup) {
        this.name = name;
        this.lookup = lookup;
    }

    /** dlopen by file name: the dynamic linker's own search (ld.so.cache, LD_LIBRARY_PATH). */
    static Optional<NativeLibrary> byName(String soname) {
        try {
            return Optional.of(new NativeLibrary(soname, SymbolLookup.libraryLookup(soname, Arena.global())));
        } catch (IllegalArgumentException e) {
            return Optional.empty();
        }
    }

    static NativeLibrary byPath(Path path) throws CudaUnavailableException {
        try {
            return new NativeLibrary(path.toString(), SymbolLookup.libraryLookup(path, Arena.global()));
        } catch (IllegalArgumentException e) {
            throw new CudaUnavailableException("cannot load " + path + ": " + e.getMessage(), e);
        }
    }

    String name() { return name; }

    /** The first of {@code symbols} the library exports (versioned names first, e.g. cuMemAlloc_v2). */
    MethodHandle function(FunctionDescriptor fd, String... symbols) throws CudaUnavailableException {
        for (String s : symbols) {
            Optional<MemorySegment> addr = lookup.find(s);
            if (addr.isPresent()) return LINKER.downcallHandle(addr.get(), fd);
        }
        throw new CudaUnavailableException(name + " lacks " + String.join("/", symbols) + " (too old?)");
    }
}
