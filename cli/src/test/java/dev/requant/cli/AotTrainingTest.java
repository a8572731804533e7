package dev.requant.cli;

import static org.assertj.core.api.Assertions.assertThat;

import java.nio.file.Files;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The launcher's AOT training workload must run through: if one of its commands stopped parsing or failed,
 * the launcher would quietly go without a cache (it ignores the training's failure so that the user's command runs).
 */
class AotTrainingTest {
    @Test
    void everyTrainingRunSucceedsAndLeavesOnlyItsInputs(@TempDir Path dir) throws Exception {
        assertThat(AotTraining.train(dir)).isZero();
        try (var files = Files.list(dir)) {
            assertThat(files.map(p -> p.getFileName().toString())).containsExactlyInAnyOrder("tiny.bf16.gguf", "tiny.imatrix.gguf", "qat-hf");
        }
    }

    /** The launcher also records a cache in a JVM without the Vector API module (docs/launcher.md): there too. */
    @Test
    void theTrainingRunsInAJvmWithoutTheVectorModule() throws Exception {
        Process p = new ProcessBuilder(java.nio.file.Path.of(System.getProperty("java.home"), "bin", "java").toString(),
                "--enable-native-access=ALL-UNNAMED", "-cp", System.getProperty("java.class.path"), AotTraining.class.getName())
                .redirectOutput(ProcessBuilder.Redirect.DISCARD).start();
        String err = new String(p.getErrorStream().readAllBytes(), java.nio.charset.StandardCharsets.UTF_8);
        assertThat(p.waitFor(300, java.util.concurrent.TimeUnit.SECONDS)).isTrue();
        assertThat(p.exitValue()).as(err).isZero();
    }
}
