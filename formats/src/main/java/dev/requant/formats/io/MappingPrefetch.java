package dev.requant.formats.io;

import java.io.IOException;
import java.lang.foreign.FunctionDescriptor;
import java.lang.foreign.Linker;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.lang.invoke.MethodHandle;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Locale;
import java.util.Optional;

/**
 * Maps a read-only file mapping's pages into the process ahead of its readers, on a daemon thread: Linux's
 * madvise(MADV_POPULATE_READ) (5.14 and later) a step at a time. A conversion reads every byte of its checkpoint through
 * the mapping; touched one fault at a time, the 2 GB of a 1 B-weight BF16 checkpoint cost its encoder threads 0.3-0.4 s
 * of kernel time and the plan's sampled rows (spread over every tensor, read before encoding starts) as much again,
 * while one populate call maps all of it in about 0.1 s. A file not in the page cache is read from disk on that thread:
 * read-ahead for the encoders.
 *
 * <p>Only where it cannot hurt: the files together at most half the memory the kernel calls available (so populating
 * evicts nothing the readers will want), and only where native access is enabled (else the JVM would warn). Anything
 * else, or a kernel without the call, leaves the pages to be faulted in as before; the bytes read are the same either
 * way.
 */
public final class MappingPrefetch {
    private MappingPrefetch() {}

    /** madvise advice: populate (prefault) page tables readable, faulting in all pages in the range (linux/mman.h). */
    static final int MADV_POPULATE_READ = 22;
    /** Bytes per call: between calls the thread checks that the mapping is still open. */
    static final long STEP = 64L << 20;

    /**
     * Starts populating {@code mappings} (read-only file mappings, in the order they will be read) on a daemon thread,
     * where that is possible and the files fit; returns whether it started.
     */
    public static boolean start(List<MemorySegment> mappings, String threadName) {
        long total = 0;
        for (MemorySegment m : mappings) total += m.byteSize();
        if (total == 0 || !System.getProperty("os.name", "").toLowerCase(Locale.ROOT).contains("linux")) return false;
        if (!MappingPrefetch.class.getModule().isNativeAccessEnabled()) return false;
        Optional<Long> available = availableBytes();
        if (available.isEmpty() || total > available.get() / 2) return false;
        Thread t = new Thread(() -> populate(mappings), threadName);
        t.setDaemon(true);
        t.start();
        return true;
    }

    /** Populates {@code mappings} on this thread; returns whether every call succeeded. */
    static boolean populate(List<MemorySegment> mappings) {
        try {
            Linker linker = Linker.nativeLinker();
            Optional<MemorySegment> symbol = linker.defaultLookup().find("madvise");
            if (symbol.isEmpty()) return false;
            MethodHandle madvise = linker.downcallHandle(symbol.get(),
                    FunctionDescriptor.of(ValueLayout.JAVA_INT, ValueLayout.ADDRESS, ValueLayout.JAVA_LONG, ValueLayout.JAVA_INT));
            for (MemorySegment m : mappings) {
                // page-aligned start: a mapping's segment starts at its page; steps are whole pages
                for (long off = 0; off < m.byteSize(); off += STEP) {
                    // the raw address, not the segment: a call holding the mapping's arena would make closing it fail
                    // (the reader may be done and close it while a call runs; then the call just finds nothing mapped)
                    if (!m.scope().isAlive()) return false;
                    long len = Math.min(STEP, m.byteSize() - off);
                    int r = (int) madvise.invokeExact(MemorySegment.ofAddress(m.address() + off), len, MADV_POPULATE_READ);
                    if (r != 0) return false; // EINVAL before Linux 5.14; anything else: the readers fault the pages in
                }
            }
            return true;
        } catch (Throwable e) {
            return false; // only an optimisation: the readers fault the pages in themselves
        }
    }

    /** MemAvailable of /proc/meminfo, in bytes. */
    static Optional<Long> availableBytes() {
        try {
            for (String line : Files.readAllLines(Path.of("/proc/meminfo"))) {
                if (line.startsWith("MemAvailable:")) {
                    String[] f = line.substring("MemAvailable:".length()).trim().split("\\s+");
                    return Optional.of(Long.parseLong(f[0]) * 1024);
                }
            }
        } catch (IOException | RuntimeException e) {
            // not Linux, or an unreadable /proc
        }
        return Optional.empty();
    }
}
