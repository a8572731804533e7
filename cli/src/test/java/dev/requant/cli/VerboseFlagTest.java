package dev.requant.cli;

import static org.assertj.core.api.Assertions.assertThat;

import org.junit.jupiter.api.Test;

/** --verbose holds for its own run only: a run without it, in the same JVM, prints one line again. */
class VerboseFlagTest {
    @Test
    void aRunWithoutVerboseIsQuietAfterOneWithIt() {
        CliRun verbose = CliRun.of("-v", "inspect", "no-such-file.gguf");
        assertThat(verbose.code()).isEqualTo(1);
        assertThat(verbose.err().strip().lines().count()).isGreaterThan(1); // the stack trace

        CliRun quiet = CliRun.of("inspect", "no-such-file.gguf");
        assertThat(quiet.code()).isEqualTo(1);
        assertThat(quiet.err().strip().lines()).hasSize(1);
        assertThat(Main.run("inspect", "no-such-file.gguf")).isEqualTo(1);
    }
}
