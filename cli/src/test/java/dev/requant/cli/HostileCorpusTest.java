package dev.requant.cli;

import static org.assertj.core.api.Assertions.assertThat;

import dev.requant.testmodels.hostile.BaseInputs;
import dev.requant.testmodels.hostile.HostileCase;
import dev.requant.testmodels.hostile.HostileCorpus;
import dev.requant.testmodels.hostile.HostileVerdict;
import java.io.IOException;
import java.io.PrintWriter;
import java.io.StringWriter;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import java.util.stream.Stream;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.MethodSource;
import picocli.CommandLine;

/**
 * Every case of the hostile-input corpus (testmodels' {@link HostileCorpus}, issue 18) through the CLI, in this JVM:
 * each run must end in a clean one-line error that names the file (and leave nothing in the output folder) or, for
 * the inputs that must be handled, succeed; never a stack trace, a hang, raw control characters on the terminal, or
 * success on a detectable corruption. bench/hostile.sh runs the same corpus as separate processes and adds kills and
 * peak memory.
 */
class HostileCorpusTest {
    @TempDir static Path tmp;
    static BaseInputs base;
    static final Map<String, Integer> COUNTS = new TreeMap<>();

    @BeforeAll
    static void base() throws IOException {
        base = BaseInputs.at(tmp.resolve("base"));
    }

    static Stream<HostileCase> cases(String point) throws IOException {
        if (base == null) base = BaseInputs.at(Files.createTempDirectory("requant-hostile-base"));
        return HostileCorpus.all(base).stream().filter(c -> c.point().equals(point));
    }

    static Stream<HostileCase> controls() throws IOException { return cases("control"); }

    static Stream<HostileCase> knownCorruptions() throws IOException { return cases("base"); }

    static Stream<HostileCase> point1() throws IOException { return cases("18.1"); }

    static Stream<HostileCase> point2() throws IOException { return cases("18.2"); }

    static Stream<HostileCase> point3() throws IOException { return cases("18.3"); }

    static Stream<HostileCase> point6() throws IOException { return cases("18.6"); }

    static Stream<HostileCase> point7() throws IOException { return cases("18.7"); }

    /** The valid inputs every case starts from are accepted by every command (else a refusal proves nothing). */
    @ParameterizedTest(name = "{0}")
    @MethodSource("controls")
    void controlsAreAccepted(HostileCase c) throws Exception {
        runAll(c);
    }

    /** Corruptions the readers refused before issue 18 (truncations, every GGUF header field, ...): still refused. */
    @ParameterizedTest(name = "{0}")
    @MethodSource("knownCorruptions")
    void knownCorruptionsAreRefused(HostileCase c) throws Exception {
        runAll(c);
    }

    /** 18.1: safetensors whose tensors do not tile the data section (header length off, gaps, overlaps, bytes after). */
    @ParameterizedTest(name = "{0}")
    @MethodSource("point1")
    void point1SafetensorsDataSectionIsCoveredExactly(HostileCase c) throws Exception {
        runAll(c);
    }

    /**
     * 18.2: arrays nested 200,000 deep, a 1 GiB string, 120 M empty strings, 600 M bools, 100,000 keys: refused at the
     * documented limits (docs/limits.md) before recursing or allocating, by inspect, quantize and imatrix.
     */
    @ParameterizedTest(name = "{0}")
    @MethodSource("point2")
    void point2RecursionAndMemoryAreBounded(HostileCase c) throws Exception {
        runAll(c);
    }

    /**
     * 18.3: NaN and infinite weights converted to q8_0/q4_0, and config values (rope_theta, rms_norm_eps,
     * final_logit_softcapping) that are negative, zero, infinite, not numbers or not float32: refused, config.json or
     * the shard named.
     */
    @ParameterizedTest(name = "{0}")
    @MethodSource("point3")
    void point3EveryValueThatGoesIntoTheFileIsChecked(HostileCase c) throws Exception {
        runAll(c);
    }

    /**
     * 18.6: ESC, BEL, CR/LF, C1 controls and U+202E in GGUF keys, values and tensor names, imatrix entries and
     * datasets, file and folder names and error messages: inspect, quantize, convert, eval, qat-report, imatrix stats
     * and verify-fp4 print them escaped, as text and as --json (every run of every case is checked for raw controls;
     * the runs that must succeed must also show the hostile name, escaped).
     */
    @ParameterizedTest(name = "{0}")
    @MethodSource("point6")
    void point6NothingPrintedIsInterpretedByTheTerminal(HostileCase c) throws Exception {
        runAll(c);
    }

    /**
     * 18.7: shards and config.json linked out of the model folder, FIFOs and /dev/zero as inputs, backtracking
     * --tensor-type patterns, a GGUF without tensors or with a nested array given to quantize, a NUL in a shard name,
     * config values too large for a UINT32, an imatrix of another model, text that is not UTF-8.
     */
    @ParameterizedTest(name = "{0}")
    @MethodSource("point7")
    void point7FilesPatternsAndValuesOutsideWhatTheReadersExpect(HostileCase c) throws Exception {
        runAll(c);
    }

    private static void runAll(HostileCase c) throws Exception {
        Path dir = HostileCorpus.materialize(c, tmp.resolve("cases").resolve(c.id()), base);
        List<String> failures = new ArrayList<>();
        for (HostileCase.Run run : c.runs()) {
            clearOut(dir);
            HostileVerdict v = run(run, dir);
            synchronized (COUNTS) {
                COUNTS.merge(v.outcome().label(), 1, Integer::sum);
            }
            if (!v.good()) failures.add(run.command() + ": " + v.outcome().label() + ": " + v.detail());
        }
        assertThat(failures).as(c.description()).isEmpty();
    }

    @AfterAll
    static void summary() {
        System.out.println("hostile corpus, in-process runs per outcome: " + COUNTS);
    }

    static HostileVerdict run(HostileCase.Run run, Path dir) throws Exception {
        List<String> args = run.resolve(dir, base.dir());
        StringWriter out = new StringWriter(), err = new StringWriter();
        ExecutorService ex = Executors.newSingleThreadExecutor(r -> {
            Thread t = new Thread(r, "hostile-run");
            t.setDaemon(true);  // a hung run must not keep the test JVM alive
            return t;
        });
        Future<Integer> f = ex.submit(() -> {
            CommandLine cl = Main.commandLine();
            cl.setOut(new PrintWriter(out, true));
            cl.setErr(new PrintWriter(err, true));
            return cl.execute(args.toArray(String[]::new));
        });
        int exit = -1;
        boolean timedOut = false;
        try {
            exit = f.get(60, TimeUnit.SECONDS);
        } catch (TimeoutException e) {
            timedOut = true;
            f.cancel(true);
        } finally {
            ex.shutdownNow();
        }
        List<Path> left;
        try (Stream<Path> s = Files.list(dir.resolve("out"))) {
            left = s.toList();
        }
        return HostileVerdict.judge(run, exit, out.toString(), err.toString(), timedOut, left, dir, base.dir());
    }

    private static void clearOut(Path dir) throws IOException {
        Path out = dir.resolve("out");
        Files.createDirectories(out);
        try (Stream<Path> s = Files.list(out)) {
            for (Path p : s.toList()) Files.delete(p);
        }
    }
}
