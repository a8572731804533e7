package dev.requant.cuda;

import dev.requant.formats.io.AtomicFile;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.HexFormat;
import java.util.List;
import java.util.Map;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Compiled kernels on disk, so NVRTC runs once per source, architecture and compiler: the file name is the SHA-256
 * of the source, the target architecture, the compiler's version and the options. Files are written atomically; a
 * cache that cannot be written only costs a recompile next time.
 */
public final class KernelCache {
    private static final Logger LOG = LoggerFactory.getLogger(KernelCache.class);

    /** What compiles CUDA C to a cubin ({@link Nvrtc} in production). */
    public interface Compiler {
        byte[] compileToCubin(String source, String name, List<String> options);

        String version();
    }

    private final Path directory;

    public KernelCache(Path directory) {
        this.directory = directory;
    }

    /** {@code REQUANT_CACHE_DIR}, else {@code $XDG_CACHE_HOME/requant}, else {@code ~/.cache/requant}; then /cuda. */
    public static Path defaultDirectory(Map<String, String> env) {
        String own = env.get("REQUANT_CACHE_DIR");
        if (own != null && !own.isBlank()) return Path.of(own, "cuda");
        String xdg = env.get("XDG_CACHE_HOME");
        if (xdg != null && !xdg.isBlank()) return Path.of(xdg, "requant", "cuda");
        return Path.of(System.getProperty("user.home"), ".cache", "requant", "cuda");
    }

    public Path directory() { return directory; }

    /** NVRTC options for a cubin of {@code arch} (e.g. "sm_90"). */
    public static List<String> options(String arch) {
        return List.of("--gpu-architecture=" + arch, "-std=c++17");
    }

    static String key(String source, String arch, String compilerVersion, List<String> options) {
        try {
            MessageDigest md = MessageDigest.getInstance("SHA-256");
            for (String s : List.of(source, arch, compilerVersion, String.join(" ", options))) {
                byte[] b = s.getBytes(StandardCharsets.UTF_8);
                md.update(ByteBuffer.allocate(8).putLong(b.length).array());
                md.update(b);
            }
            return HexFormat.of().formatHex(md.digest());
        } catch (NoSuchAlgorithmException e) {
            throw new IllegalStateException(e);
        }
    }

    public Path fileFor(String name, String source, String arch, Compiler compiler) {
        String stem = name.replaceAll("[^A-Za-z0-9_.-]", "_");
        return directory.resolve(stem + "-" + arch + "-" + key(source, arch, compiler.version(), options(arch)).substring(0, 24) + ".cubin");
    }

    /** The cubin from the cache, or compiled now and stored. */
    public byte[] cubin(String name, String source, String arch, Compiler compiler) {
        Path file = fileFor(name, source, arch, compiler);
        try {
            if (Files.isRegularFile(file)) return Files.readAllBytes(file);
        } catch (IOException e) {
            LOG.warn("{}: cannot read cached kernels ({}); compiling again", file, e.getMessage());
        }
        long t0 = System.nanoTime();
        byte[] cubin = compiler.compileToCubin(source, name, options(arch));
        LOG.debug("compiled {} for {} in {} ms", name, arch, (System.nanoTime() - t0) / 1_000_000);
        try {
            Files.createDirectories(directory);
            try (AtomicFile out = AtomicFile.create(file)) {
                ByteBuffer b = ByteBuffer.wrap(cubin);
                while (b.hasRemaining()) out.channel().write(b);
                out.commit();
            }
        } catch (IOException e) {
            LOG.warn("{}: cannot cache compiled kernels ({})", file, e.getMessage());
        }
        return cubin;
    }
}
