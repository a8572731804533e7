package dev.requant.cli;

import static org.assertj.core.api.Assertions.assertThat;

import dev.requant.testmodels.SyntheticCheckpoint;
import java.io.ByteArrayInputStream;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;
import java.util.stream.Stream;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * A quantize or convert started in a JVM without the Vector API module hands its work over to one with it where that
 * pays (VectorRelaunch), and otherwise runs where it is: the same output either way, the exit status passed back, the
 * module's warning line dropped, a SIGTERM passed on. The JVMs are separate processes, as the launcher starts them.
 */
class VectorRelaunchTest {
    @TempDir static Path tmp;
    static Path hf, gguf;

    @BeforeAll
    static void input() throws IOException {
        hf = SyntheticCheckpoint.gemma3().layers(2).hiddenSize(1024).intermediateSize(4096).heads(8).kvHeads(4).headDim(128)
                .write(tmp.resolve("hf"));
        gguf = tmp.resolve("model.bf16.gguf");
        CliRun r = CliRun.of("convert", hf.toString(), "-o", gguf.toString(), "--type", "bf16", "--no-progress");
        assertThat(r.code()).as(r.err()).isZero();
    }

    static String java() { return Path.of(System.getProperty("java.home"), "bin", "java").toString(); }

    /** The launcher's vector JVM, up to the command's arguments. */
    static List<String> vectorJvm() {
        return List.of(java(), "--add-modules", "jdk.incubator.vector", "--enable-native-access=ALL-UNNAMED", "-cp",
                System.getProperty("java.class.path"), Main.class.getName());
    }

    /** requant in a JVM without the module, told how to start the vector one. */
    static Process startPlain(List<String> args) throws IOException {
        // env --default-signal=INT: a build started in the background has SIGINT ignored, and the JVM would inherit that
        List<String> cmd = new ArrayList<>(List.of("env", "--default-signal=INT", java(), "--enable-native-access=ALL-UNNAMED", "-cp",
                System.getProperty("java.class.path"), Main.class.getName()));
        cmd.addAll(args);
        ProcessBuilder pb = new ProcessBuilder(cmd);
        pb.environment().put(VectorRelaunch.ENV, String.join("\n", vectorJvm()));
        pb.environment().put("REQUANT_DEBUG", "1");
        java.time.Instant now = java.time.Instant.now();
        pb.environment().put("REQUANT_STARTUP_REPORT", "1");
        pb.environment().put("REQUANT_LAUNCHED_AT", now.getEpochSecond() + "." + String.format("%06d", now.getNano() / 1000));
        return pb.start();
    }

    @Test
    void aQuantizationThatPaysRunsInTheVectorJvmWithTheSameOutput() throws Exception {
        Path handedOver = tmp.resolve("handed-over.gguf"), direct = tmp.resolve("direct.gguf");
        // --qat auto: the lattice solver's vector path pays at any size (Quantize.vectorApiPays)
        Process p = startPlain(List.of("quantize", "--qat", "auto", "--no-progress", gguf.toString(), handedOver.toString(), "Q4_0", "2"));
        String err = new String(p.getErrorStream().readAllBytes(), StandardCharsets.UTF_8);
        assertThat(p.waitFor(120, TimeUnit.SECONDS)).isTrue();
        assertThat(p.exitValue()).as(err).isZero();
        assertThat(err).contains("handing over to a JVM with the Vector API").doesNotContain(VectorRelaunch.INCUBATOR_WARNING);
        assertThat(err.split("work starts", -1)).as("one start-up report, from the JVM that does the work: " + err).hasSize(2);

        CliRun r = CliRun.of("quantize", "--qat", "auto", "--no-progress", gguf.toString(), direct.toString(), "Q4_0", "2");
        assertThat(r.code()).as(r.err()).isZero();
        assertThat(Files.mismatch(handedOver, direct)).isEqualTo(-1L);
    }

    @Test
    void aSmallCheapQuantizationStaysInThePlainJvm() throws Exception {
        Path out = tmp.resolve("plain.gguf");
        Process p = startPlain(List.of("quantize", "--no-progress", gguf.toString(), out.toString(), "TQ2_0", "2"));
        String err = new String(p.getErrorStream().readAllBytes(), StandardCharsets.UTF_8);
        assertThat(p.waitFor(120, TimeUnit.SECONDS)).isTrue();
        assertThat(p.exitValue()).as(err).isZero();
        assertThat(err).doesNotContain("handing over");
        assertThat(err.split("work starts", -1)).as(err).hasSize(2);
        CliRun r = CliRun.of("quantize", "--no-progress", gguf.toString(), tmp.resolve("plain-direct.gguf").toString(), "TQ2_0", "2");
        assertThat(r.code()).as(r.err()).isZero();
        assertThat(Files.mismatch(out, tmp.resolve("plain-direct.gguf"))).isEqualTo(-1L);
    }

    @Test
    void aConversionToBf16StaysAndOneToQ4_0HandsOver() throws Exception {
        for (String type : List.of("bf16", "q4_0")) {
            Path plain = tmp.resolve("convert-" + type + ".gguf"), direct = tmp.resolve("convert-direct-" + type + ".gguf");
            Process p = startPlain(List.of("convert", hf.toString(), "-o", plain.toString(), "--type", type, "--no-progress"));
            String err = new String(p.getErrorStream().readAllBytes(), StandardCharsets.UTF_8);
            assertThat(p.waitFor(120, TimeUnit.SECONDS)).isTrue();
            assertThat(p.exitValue()).as(err).isZero();
            if (type.equals("bf16")) assertThat(err).doesNotContain("handing over");
            else assertThat(err).contains("handing over to a JVM with the Vector API"); // the QAT lattice may run (--qat auto)
            assertThat(err.split("work starts", -1)).as(err).hasSize(2);
            CliRun r = CliRun.of("convert", hf.toString(), "-o", direct.toString(), "--type", type, "--no-progress");
            assertThat(r.code()).as(r.err()).isZero();
            assertThat(Files.mismatch(plain, direct)).as(type).isEqualTo(-1L);
        }
    }

    @Test
    void theOtherJvmsExitStatusAndStderrComeBack() {
        ByteArrayOutputStream err = new ByteArrayOutputStream();
        int status = VectorRelaunch.run(vectorJvm(), List.of("quantize", tmp.resolve("missing.gguf").toString(), tmp.resolve("x.gguf").toString(), "Q4_0"), err);
        String text = err.toString(StandardCharsets.UTF_8);
        assertThat(status).isEqualTo(1);
        assertThat(text).contains("missing.gguf").doesNotContain(VectorRelaunch.INCUBATOR_WARNING);
    }

    /** Starts a quantization that hands over (IQ4_XS: its vector encoder pays from about 10 M weights), once it writes. */
    static Process startHandedOverWriter(Path dir) throws Exception {
        Process p = startPlain(List.of("quantize", "--no-progress", gguf.toString(), dir.resolve("out.gguf").toString(), "IQ4_XS", "1"));
        Thread.ofVirtual().start(() -> {
            try {
                p.getErrorStream().transferTo(java.io.OutputStream.nullOutputStream());
            } catch (IOException e) {
                // ended
            }
        });
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(120);
        while (files(dir).isEmpty() || Files.size(dir.resolve(files(dir).getFirst())) == 0) {
            assertThat(p.isAlive()).as("ended before writing").isTrue();
            assertThat(System.nanoTime()).as("no temporary file appeared").isLessThan(deadline);
            Thread.sleep(5);
        }
        return p;
    }

    @Test
    void aSigtermIsPassedOnAndNothingIsLeft() throws Exception {
        Path dir = Files.createDirectories(tmp.resolve("term"));
        Process p = startHandedOverWriter(dir);
        List<ProcessHandle> children = p.descendants().toList();
        assertThat(children).as("the vector JVM writes").isNotEmpty();
        assertThat(new ProcessBuilder("kill", "-TERM", Long.toString(p.pid())).start().waitFor()).isZero();
        assertThat(p.waitFor(60, TimeUnit.SECONDS)).isTrue();
        assertThat(p.exitValue()).isEqualTo(143);
        for (ProcessHandle c : children) assertThat(c.isAlive()).as("the vector JVM stopped with it").isFalse();
        assertThat(files(dir)).as("nothing left, no output").isEmpty();
    }

    @Test
    void theVectorJvmEndsWhenTheOneThatHandedOverIsKilled() throws Exception {
        Path dir = Files.createDirectories(tmp.resolve("kill"));
        Process p = startHandedOverWriter(dir);
        List<ProcessHandle> children = p.descendants().toList();
        assertThat(children).as("the vector JVM writes").isNotEmpty();
        p.destroyForcibly(); // SIGKILL: no hook runs in this one
        assertThat(p.waitFor(60, TimeUnit.SECONDS)).isTrue();
        for (ProcessHandle c : children) {
            assertThat(c.onExit().get(60, TimeUnit.SECONDS).isAlive()).as("the vector JVM ended too").isFalse();
        }
        assertThat(files(dir)).as("its temporary output removed, no output").isEmpty();
    }

    @Test
    void commandsThatStayInThePlainJvmRunThere() throws Exception {
        List<List<String>> commands = List.of(List.of("--help"), List.of("inspect", gguf.toString()),
                List.of("quantize", "--dry-run", "--qat", "auto", gguf.toString(), tmp.resolve("d.gguf").toString(), "Q4_0"),
                List.of("convert", hf.toString(), "--dry-run", "--type", "bf16"),
                // a dry run to Q4_0 (type id 2, which the launcher's look at the arguments misses) measures the lattice
                // in this JVM: its solver runs without the module too (Q4_0LatticeLanes)
                List.of("convert", hf.toString(), "--dry-run", "--type", "2"));
        for (List<String> c : commands) {
            Process p = startPlain(c);
            p.getInputStream().transferTo(java.io.OutputStream.nullOutputStream());
            String err = new String(p.getErrorStream().readAllBytes(), StandardCharsets.UTF_8);
            assertThat(p.waitFor(120, TimeUnit.SECONDS)).isTrue();
            assertThat(p.exitValue()).as(c + ": " + err).isZero();
            assertThat(err).as(c.toString()).doesNotContain("Exception").doesNotContain("Error:");
            assertThat(err).as(c.toString()).doesNotContain("handing over");
        }
    }

    @Test
    void onlyAFirstLineThatIsTheWarningIsDropped() {
        assertThat(copied(VectorRelaunch.INCUBATOR_WARNING + "\nrequant: error: x\n")).isEqualTo("requant: error: x\n");
        assertThat(copied("requant: error: x\n" + VectorRelaunch.INCUBATOR_WARNING + "\n"))
                .isEqualTo("requant: error: x\n" + VectorRelaunch.INCUBATOR_WARNING + "\n");
        assertThat(copied("WARNING: Using incubator modules: jdk.incubator.vector, jdk.x\nz")).isEqualTo("WARNING: Using incubator modules: jdk.incubator.vector, jdk.x\nz");
        assertThat(copied("WARN")).isEqualTo("WARN");
        assertThat(copied("\r 12% [===    ]\r 13%")).isEqualTo("\r 12% [===    ]\r 13%");
        assertThat(copied("")).isEmpty();
    }

    private static String copied(String in) {
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        VectorRelaunch.copyStderr(new ByteArrayInputStream(in.getBytes(StandardCharsets.UTF_8)), out);
        return out.toString(StandardCharsets.UTF_8);
    }

    static List<String> files(Path dir) throws IOException {
        try (Stream<Path> s = Files.list(dir)) {
            return s.map(f -> f.getFileName().toString()).toList();
        }
    }
}
