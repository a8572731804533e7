package dev.requant.cli;

import static org.assertj.core.api.Assertions.assertThat;

import dev.requant.testmodels.SyntheticCheckpoint;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;
import java.util.concurrent.TimeUnit;
import java.util.stream.Stream;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Issue 18.4: convert and quantize stopped mid-write leave nothing behind. SIGTERM and SIGINT (Ctrl-C) remove the
 * temporary file at once (a shutdown hook); after SIGKILL, which no process can react to, the next write of the same
 * output removes the dead process's temporary file. Runs requant as a separate JVM, as a user would.
 */
class InterruptedWritesTest {
    @TempDir static Path tmp;
    static Path checkpoint, gguf;

    @BeforeAll
    static void inputs() throws IOException {
        // big enough that a single-threaded q8_0 conversion or Q4_K quantization takes seconds
        checkpoint = SyntheticCheckpoint.gemma3().layers(4).hiddenSize(1024).intermediateSize(4096).heads(8).kvHeads(4).headDim(128)
                .write(tmp.resolve("hf"));
        gguf = tmp.resolve("model.bf16.gguf");
        CliRun r = CliRun.of("convert", checkpoint.toString(), "-o", gguf.toString(), "--type", "bf16", "--no-progress");
        assertThat(r.code()).as(r.err()).isZero();
    }

    static List<String> convert(Path out) {
        return List.of("convert", checkpoint.toString(), "-o", out.toString(), "--type", "q8_0", "--threads", "1", "--no-progress");
    }

    static List<String> quantize(Path out) {
        return List.of("quantize", gguf.toString(), out.toString(), "Q4_K_M", "1", "--no-progress");
    }

    static Process start(List<String> args) throws IOException {
        // env --default-signal=INT: a build started in the background has SIGINT ignored, and the JVM would inherit that
        List<String> cmd = new ArrayList<>(List.of("env", "--default-signal=INT", Path.of(System.getProperty("java.home"), "bin", "java").toString(), "-Xmx256m",
                "--add-modules=jdk.incubator.vector", "--enable-native-access=ALL-UNNAMED", "-cp", System.getProperty("java.class.path"),
                Main.class.getName()));
        cmd.addAll(args);
        return new ProcessBuilder(cmd).redirectErrorStream(true).redirectOutput(ProcessBuilder.Redirect.DISCARD).start();
    }

    static Optional<Path> temporary(Path dir) throws IOException {
        try (Stream<Path> s = Files.list(dir)) {
            return s.filter(p -> p.getFileName().toString().endsWith(".tmp-requant")).findFirst();
        }
    }

    /** Starts the command writing into a fresh folder and waits until its temporary file is being written. */
    static Process startWriting(List<String> args, Path dir) throws Exception {
        Process p = start(args);
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(120);
        while (System.nanoTime() < deadline) {
            Optional<Path> t = temporary(dir);
            if (t.isPresent() && Files.size(t.get()) > 0) return p;
            assertThat(p.isAlive()).as("process ended before its temporary file had data").isTrue();
            Thread.sleep(5);
        }
        p.destroyForcibly();
        throw new AssertionError("no temporary file appeared in " + dir);
    }

    private static List<String> files(Path dir) throws IOException {
        try (Stream<Path> s = Files.list(dir)) {
            return s.map(p -> p.getFileName().toString()).toList();
        }
    }

    @Test
    void sigtermAndSigintRemoveTheTemporaryFile() throws Exception {
        for (String signal : List.of("TERM", "INT")) {
            for (String command : List.of("convert", "quantize")) {
                Path dir = Files.createDirectories(tmp.resolve(signal + "-" + command));
                Path out = dir.resolve("out.gguf");
                Process p = startWriting(command.equals("convert") ? convert(out) : quantize(out), dir);
                Process kill = new ProcessBuilder("kill", "-" + signal, Long.toString(p.pid())).start();
                assertThat(kill.waitFor()).isZero();
                assertThat(p.waitFor(60, TimeUnit.SECONDS)).as(signal + " " + command + " exits").isTrue();
                assertThat(p.exitValue()).as(signal + " " + command).isEqualTo(signal.equals("TERM") ? 143 : 130);
                assertThat(files(dir)).as(signal + " " + command + ": nothing left, no output").isEmpty();
            }
        }
    }

    @Test
    void aKilledWritersTemporaryFileIsRemovedByTheNextWriteOfTheSameOutput() throws Exception {
        Path dir = Files.createDirectories(tmp.resolve("kill"));
        Path out = dir.resolve("out.gguf");
        Process p = startWriting(quantize(out), dir);
        p.destroyForcibly();
        assertThat(p.waitFor(60, TimeUnit.SECONDS)).isTrue();
        Path left = temporary(dir).orElseThrow(() -> new AssertionError("SIGKILL should have left the temporary file"));
        assertThat(left.getFileName().toString()).contains(".p" + p.pid() + "@");

        Path small = SyntheticCheckpoint.gemma3().layers(1).write(tmp.resolve("small"));
        CliRun r = CliRun.of("convert", small.toString(), "-o", out.toString(), "--type", "bf16", "--no-progress");
        assertThat(r.code()).as(r.err()).isZero();
        assertThat(files(dir)).containsExactly("out.gguf");
    }
}
