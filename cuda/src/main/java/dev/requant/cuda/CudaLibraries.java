package dev.requant.cuda;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.Optional;

/**
 * Where the CUDA libraries are. The driver ({@code libcuda.so.1}) comes with the NVIDIA driver and is found by the
 * dynamic linker; NVRTC and cuBLAS come with a CUDA toolkit or a Python wheel, for CUDA 13 or 12, and are searched in:
 * {@code REQUANT_CUDA_LIBS}, {@code LD_LIBRARY_PATH}, {@code CUDA_HOME}/{@code CUDA_PATH}, the standard toolkit
 * folders, the NVIDIA wheels of a Python environment (e.g. the torch venv
 * {@code /opt/torch/.venv/lib/python3.12/site-packages/nvidia/cu13/lib}), then the system library folders.
 */
public final class CudaLibraries {
    /** Sonames tried in order: newest CUDA first. */
    public static final List<String> DRIVER = List.of("libcuda.so.1");
    public static final List<String> NVRTC = List.of("libnvrtc.so.13", "libnvrtc.so.12");
    public static final List<String> CUBLAS = List.of("libcublas.so.13", "libcublas.so.12");
    public static final List<String> CUBLAS_LT = List.of("libcublasLt.so.13", "libcublasLt.so.12");

    private final List<Path> searchPath;

    public CudaLibraries(List<Path> searchPath) {
        this.searchPath = List.copyOf(searchPath);
    }

    /** The search path built from this process's environment. */
    public static CudaLibraries fromEnvironment() {
        return new CudaLibraries(searchPath(System.getenv()));
    }

    public List<Path> searchPath() { return searchPath; }

    static List<Path> searchPath(Map<String, String> env) {
        LinkedHashSet<Path> dirs = new LinkedHashSet<>();
        split(env.get("REQUANT_CUDA_LIBS"), dirs);
        split(env.get("LD_LIBRARY_PATH"), dirs);
        for (String home : new String[] {env.get("CUDA_HOME"), env.get("CUDA_PATH")}) {
            if (home == null || home.isBlank()) continue;
            Path h = Path.of(home);
            dirs.add(h.resolve("lib64"));
            dirs.add(h.resolve("lib"));
            dirs.add(h.resolve("targets/x86_64-linux/lib"));
        }
        dirs.add(Path.of("/usr/local/cuda/lib64"));
        dirs.add(Path.of("/usr/local/cuda/targets/x86_64-linux/lib"));
        for (String v : new String[] {"13.2", "13.1", "13.0", "12.9", "12.8", "12.6", "12.4"}) {
            dirs.add(Path.of("/usr/local/cuda-" + v + "/lib64"));
        }
        for (String venv : new String[] {"/opt/torch/.venv", env.getOrDefault("VIRTUAL_ENV", "")}) {
            if (venv.isBlank()) continue;
            for (String py : new String[] {"python3.12", "python3.13", "python3.11", "python3.10"}) {
                Path nv = Path.of(venv, "lib", py, "site-packages", "nvidia");
                dirs.add(nv.resolve("cu13/lib"));
                dirs.add(nv.resolve("cublas/lib"));
                dirs.add(nv.resolve("cuda_nvrtc/lib"));
            }
        }
        dirs.add(Path.of("/usr/local/nvidia/lib64"));
        dirs.add(Path.of("/usr/lib/x86_64-linux-gnu"));
        dirs.add(Path.of("/usr/lib64"));
        dirs.add(Path.of("/usr/lib/wsl/lib"));
        return new ArrayList<>(dirs);
    }

    private static void split(String pathList, LinkedHashSet<Path> into) {
        if (pathList == null) return;
        for (String s : pathList.split(":")) if (!s.isBlank()) into.add(Path.of(s));
    }

    /** The first file that exists, trying each soname (in order) in every folder of the search path. */
    public Optional<Path> find(List<String> sonames) {
        for (String name : sonames) {
            for (Path dir : searchPath) {
                Path p = dir.resolve(name);
                if (Files.isRegularFile(p)) return Optional.of(p);
            }
        }
        return Optional.empty();
    }

    /** One line for an error: the names tried and how many folders were searched. */
    public String describeMissing(List<String> sonames) {
        return String.join(" or ", sonames) + " not found (searched " + searchPath.size()
                + " folders: REQUANT_CUDA_LIBS, LD_LIBRARY_PATH, CUDA_HOME, /usr/local/cuda*, Python nvidia wheels, system)";
    }
}
