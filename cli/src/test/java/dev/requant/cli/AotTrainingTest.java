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
}
