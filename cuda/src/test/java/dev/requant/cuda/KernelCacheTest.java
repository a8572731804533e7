package dev.requant.cuda;

import static org.assertj.core.api.Assertions.assertThat;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class KernelCacheTest {
    @TempDir Path tmp;

    static final class FakeCompiler implements KernelCache.Compiler {
        final List<String> calls = new ArrayList<>();
        final String version;

        FakeCompiler(String version) { this.version = version; }

        @Override
        public byte[] compileToCubin(String source, String name, List<String> options) {
            calls.add(name + " " + options);
            return (source + "|" + options).getBytes();
        }

        @Override
        public String version() { return version; }
    }

    @Test
    void compilesOncePerSourceArchitectureAndCompilerVersion() throws Exception {
        KernelCache cache = new KernelCache(tmp.resolve("cuda"));
        FakeCompiler c13 = new FakeCompiler("13.0");
        byte[] first = cache.cubin("kernels.cu", "src", "sm_90", c13);
        byte[] again = cache.cubin("kernels.cu", "src", "sm_90", c13);
        assertThat(again).isEqualTo(first);
        assertThat(c13.calls).containsExactly("kernels.cu [--gpu-architecture=sm_90, -std=c++17]");
        cache.cubin("kernels.cu", "src2", "sm_90", c13);
        cache.cubin("kernels.cu", "src", "sm_89", c13);
        assertThat(c13.calls).hasSize(3);
        FakeCompiler c12 = new FakeCompiler("12.8");
        cache.cubin("kernels.cu", "src", "sm_90", c12);
        assertThat(c12.calls).hasSize(1);
        try (var files = Files.list(tmp.resolve("cuda"))) {
            assertThat(files.map(p -> p.getFileName().toString()).toList()).hasSize(4).allMatch(n -> n.endsWith(".cubin"));
        }
    }

    @Test
    void anUnwritableCacheOnlyCostsARecompile() throws Exception {
        Path file = Files.writeString(tmp.resolve("not-a-dir"), "x");
        KernelCache cache = new KernelCache(file.resolve("cuda"));
        FakeCompiler c = new FakeCompiler("13.0");
        assertThat(cache.cubin("k", "s", "sm_90", c)).isNotEmpty();
        assertThat(cache.cubin("k", "s", "sm_90", c)).isNotEmpty();
        assertThat(c.calls).hasSize(2);
    }

    @Test
    void defaultDirectoryFollowsTheEnvironment() {
        assertThat(KernelCache.defaultDirectory(Map.of("REQUANT_CACHE_DIR", "/c"))).isEqualTo(Path.of("/c/cuda"));
        assertThat(KernelCache.defaultDirectory(Map.of("XDG_CACHE_HOME", "/x"))).isEqualTo(Path.of("/x/requant/cuda"));
        assertThat(KernelCache.defaultDirectory(Map.of()).toString()).endsWith(".cache/requant/cuda");
    }
}
