package dev.requant.cuda;

import static org.assertj.core.api.Assertions.assertThat;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class CudaLibrariesTest {
    @TempDir Path tmp;

    @Test
    void prefersCuda13AnywhereOverCuda12AndKeepsSearchOrder() throws IOException {
        Path a = Files.createDirectories(tmp.resolve("a")), b = Files.createDirectories(tmp.resolve("b"));
        Files.writeString(a.resolve("libnvrtc.so.12"), "");
        Files.writeString(b.resolve("libnvrtc.so.13"), "");
        Files.writeString(a.resolve("libcublas.so.13"), "");
        Files.writeString(b.resolve("libcublas.so.13"), "");
        CudaLibraries libs = new CudaLibraries(List.of(a, b));
        assertThat(libs.find(CudaLibraries.NVRTC)).contains(b.resolve("libnvrtc.so.13"));
        assertThat(libs.find(CudaLibraries.CUBLAS)).contains(a.resolve("libcublas.so.13"));
        assertThat(libs.find(CudaLibraries.CUBLAS_LT)).isEmpty();
        assertThat(libs.describeMissing(CudaLibraries.CUBLAS_LT)).contains("libcublasLt.so.13 or libcublasLt.so.12").doesNotContain("\n");
    }

    @Test
    void searchPathFollowsTheEnvironment() {
        List<Path> p = CudaLibraries.searchPath(Map.of("REQUANT_CUDA_LIBS", "/x", "LD_LIBRARY_PATH", "/y::/z", "CUDA_HOME", "/cuda"));
        assertThat(p.subList(0, 4)).containsExactly(Path.of("/x"), Path.of("/y"), Path.of("/z"), Path.of("/cuda/lib64"));
        assertThat(p).contains(Path.of("/opt/torch/.venv/lib/python3.12/site-packages/nvidia/cu13/lib"), Path.of("/usr/local/cuda/lib64"));
    }
}
