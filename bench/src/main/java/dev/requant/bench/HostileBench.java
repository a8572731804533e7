package dev.requant.bench;

import dev.requant.testmodels.SyntheticCheckpoint;
import dev.requant.testmodels.hostile.BaseInputs;
import dev.requant.testmodels.hostile.HostileCase;
import dev.requant.testmodels.hostile.HostileCorpus;
import dev.requant.testmodels.hostile.HostileVerdict;
import java.io.IOException;
import java.io.PrintWriter;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Collections;
import java.util.Comparator;
import java.util.EnumMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Optional;
import java.util.Random;
import java.util.TreeMap;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import java.util.stream.Stream;

/**
 * Reruns the hostile-input corpus (testmodels' {@link HostileCorpus}, issue 18) against the requant CLI, each run a
 * separate JVM as a user starts it, and prints the runs per outcome: clean error, stack trace, hang, success on a
 * detectable corruption, output left behind, raw terminal controls, with peak RSS; then kills convert and quantize
 * mid-write with SIGTERM and SIGINT and counts leaked temporary files, and kills writers with SIGKILL to check that the
 * next write of the same output sweeps what they left. bench/hostile.sh runs it.
 *
 * <p>Arguments: {@code WORKDIR JAVA JAR [--parallel N] [--timeout SECONDS] [--kills N] [--only REGEX] [--jvm-opt OPT]...}
 */
public final class HostileBench {
    private HostileBench() {}

    record Result(HostileCase c, HostileCase.Run run, HostileVerdict verdict, int exit, long rssKb, double seconds) {}

    public static void main(String[] args) throws Exception {
        Path work = Path.of(args[0]).toAbsolutePath();
        String java = args[1];
        Path jar = Path.of(args[2]).toAbsolutePath();
        int parallel = 2, timeout = 60, kills = 20;
        String only = ".*";
        List<String> jvm = new ArrayList<>();
        for (int i = 3; i < args.length; i++) {
            switch (args[i]) {
                case "--parallel" -> parallel = Integer.parseInt(args[++i]);
                case "--timeout" -> timeout = Integer.parseInt(args[++i]);
                case "--kills" -> kills = Integer.parseInt(args[++i]);
                case "--only" -> only = args[++i];
                case "--jvm-opt" -> jvm.add(args[++i]);
                default -> throw new IllegalArgumentException("unknown argument " + args[i]);
            }
        }
        List<String> launcher = new ArrayList<>(List.of(java, "--add-modules", "jdk.incubator.vector", "--enable-native-access=ALL-UNNAMED"));
        launcher.addAll(jvm);
        launcher.addAll(List.of("-jar", jar.toString()));

        BaseInputs base = BaseInputs.at(work.resolve("base"));
        String filter = only;
        List<HostileCase> cases = HostileCorpus.all(base).stream().filter(c -> c.id().matches(filter)).toList();
        long t0 = System.nanoTime();
        List<Result> results = Collections.synchronizedList(new ArrayList<>());
        ExecutorService pool = Executors.newFixedThreadPool(parallel);
        List<Future<?>> futures = new ArrayList<>();
        int timeoutSeconds = timeout;
        for (HostileCase c : cases) {
            futures.add(pool.submit(() -> {
                Path dir = work.resolve("cases").resolve(c.id());
                deleteTree(dir);
                HostileCorpus.materialize(c, dir, base);
                for (HostileCase.Run run : c.runs()) results.add(runOnce(launcher, c, run, dir, base, timeoutSeconds));
                return null;
            }));
        }
        int done = 0;
        for (Future<?> f : futures) {
            f.get();
            if (++done % 50 == 0) System.err.printf("%d/%d cases (%.0f s)%n", done, cases.size(), (System.nanoTime() - t0) / 1e9);
        }
        pool.shutdown();
        double corpusSeconds = (System.nanoTime() - t0) / 1e9;

        KillCounts killCounts = kills > 0 ? killPhase(launcher, work, base, kills) : null;
        report(cases, results, corpusSeconds, killCounts, work);
    }

    // ---- the corpus ------------------------------------------------------------------------------------------------

    /**
     * What a terminal would get from {@code file}: UTF-8 as requant writes it (so "±" and "Δ" are letters, while a
     * C1 control or U+202E is seen as the code point it is); bytes that are not UTF-8 as Latin-1, so a raw byte 0x9b
     * (a CSI on an 8-bit terminal) is seen too.
     */
    static String printed(Path file) throws IOException {
        byte[] b = Files.readAllBytes(file);
        try {
            return java.nio.charset.StandardCharsets.UTF_8.newDecoder().decode(java.nio.ByteBuffer.wrap(b)).toString();
        } catch (java.nio.charset.CharacterCodingException notUtf8) {
            return new String(b, java.nio.charset.StandardCharsets.ISO_8859_1);
        }
    }

    static Result runOnce(List<String> launcher, HostileCase c, HostileCase.Run run, Path dir, BaseInputs base, int timeout)
            throws Exception {
        Path out = dir.resolve("out");
        deleteTree(out);
        Files.createDirectories(out);
        Path rss = Files.createTempFile("hostile-rss", ".txt");
        List<String> cmd = new ArrayList<>(List.of("/usr/bin/time", "-f", "%M", "-o", rss.toString()));
        cmd.addAll(launcher);
        cmd.addAll(run.resolve(dir, base.dir()));
        Path stdout = dir.resolve("stdout.txt"), stderr = dir.resolve("stderr.txt");
        long start = System.nanoTime();
        Process p = new ProcessBuilder(cmd).directory(dir.toFile()).redirectOutput(stdout.toFile()).redirectError(stderr.toFile()).start();
        boolean finished = p.waitFor(timeout, TimeUnit.SECONDS);
        if (!finished) {
            p.descendants().forEach(ProcessHandle::destroyForcibly);
            p.destroyForcibly();
            p.waitFor(30, TimeUnit.SECONDS);
        }
        double seconds = (System.nanoTime() - start) / 1e9;
        long rssKb = -1;
        try {
            String s = Files.readString(rss).strip();
            String last = s.lines().reduce((a, b) -> b).orElse("");
            if (last.matches("\\d+")) rssKb = Long.parseLong(last);
        } catch (IOException ignored) {
            // killed: no measurement
        }
        Files.deleteIfExists(rss);
        List<Path> left = new ArrayList<>();
        try (Stream<Path> s = Files.walk(dir)) {
            s.filter(f -> f.startsWith(out) && !f.equals(out) || f.getFileName().toString().endsWith(".tmp-requant")).forEach(left::add);
        }
        // /usr/bin/time prints "Command exited with non-zero status N" into its -o file, not into stderr
        String err = printed(stderr), o = printed(stdout);
        int exit = finished ? p.exitValue() : -1;
        HostileVerdict v = HostileVerdict.judge(run, exit, o, err, !finished, left, dir, base.dir());
        return new Result(c, run, v, exit, rssKb, seconds);
    }

    // ---- kills mid-write ---------------------------------------------------------------------------------------------

    record KillCounts(long modelBytes, int signalled, int finishedFirst, int leaked, int halfWritten, Map<Integer, Integer> exits,
                      int sigkills, int sigkillLeftTemp, int sweptByRerun) {}

    /**
     * The launcher with SIGINT's default action restored: a shell starts background jobs with SIGINT ignored, the JVM
     * then leaves it ignored, and Ctrl-C could not be tried from a bench started with {@code &} or nohup.
     */
    static List<String> withSigint(List<String> launcher) {
        List<String> l = new ArrayList<>(List.of("env", "--default-signal=INT"));
        l.addAll(launcher);
        return l;
    }

    static KillCounts killPhase(List<String> javaLauncher, Path work, BaseInputs base, int kills) throws Exception {
        List<String> launcher = withSigint(javaLauncher);
        Path big = work.resolve("big");
        Path hf = big.resolve("hf");
        Path gguf = big.resolve("model.bf16.gguf");
        if (!Files.exists(gguf)) {
            deleteTree(big);
            SyntheticCheckpoint.gemma3().layers(4).hiddenSize(1024).intermediateSize(4096).heads(8).kvHeads(4).headDim(128).write(hf);
            List<String> cmd = new ArrayList<>(launcher);
            cmd.addAll(List.of("convert", hf.toString(), "-o", gguf.toString(), "--type", "bf16", "--no-progress"));
            Process p = new ProcessBuilder(cmd).inheritIO().start();
            if (p.waitFor() != 0) throw new IllegalStateException("could not convert the kill-phase model");
        }
        Random random = new Random(18);
        int signalled = 0, finishedFirst = 0, leaked = 0, halfWritten = 0;
        Map<Integer, Integer> exits = new TreeMap<>();
        for (int i = 0; i < kills; i++) {
            String signal = i % 2 == 0 ? "TERM" : "INT";
            boolean convert = (i / 2) % 2 == 0;
            Path dir = big.resolve("kill-" + i);
            deleteTree(dir);
            Files.createDirectories(dir);
            Path out = dir.resolve("out.gguf");
            List<String> cmd = new ArrayList<>(launcher);
            cmd.addAll(convert ? List.of("convert", hf.toString(), "-o", out.toString(), "--type", "q8_0", "--threads", "1", "--no-progress")
                    : List.of("quantize", gguf.toString(), out.toString(), "Q4_K_M", "1", "--no-progress"));
            Process p = new ProcessBuilder(cmd).redirectErrorStream(true).redirectOutput(ProcessBuilder.Redirect.DISCARD).start();
            if (!waitForTemporary(p, dir)) {
                finishedFirst++;
                continue;
            }
            Thread.sleep(random.nextInt(1500));
            new ProcessBuilder("kill", "-" + signal, Long.toString(p.pid())).start().waitFor();
            if (!p.waitFor(120, TimeUnit.SECONDS)) {
                p.destroyForcibly();
                p.waitFor();
            }
            int exit = p.exitValue();
            if (exit == 0) {
                finishedFirst++;
                continue;
            }
            signalled++;
            exits.merge(exit, 1, Integer::sum);
            if (Files.exists(out)) halfWritten++;
            leaked += temporaries(dir).size();
        }
        // SIGKILL leaves the temporary file (nothing can run on SIGKILL); the next write of the same output sweeps it
        int sigkills = Math.max(2, kills / 4), leftTemp = 0, swept = 0;
        for (int i = 0; i < sigkills; i++) {
            Path dir = big.resolve("sigkill-" + i);
            deleteTree(dir);
            Files.createDirectories(dir);
            Path out = dir.resolve("out.gguf");
            List<String> cmd = new ArrayList<>(launcher);
            cmd.addAll(List.of("quantize", gguf.toString(), out.toString(), "Q4_K_M", "1", "--no-progress"));
            Process p = new ProcessBuilder(cmd).redirectErrorStream(true).redirectOutput(ProcessBuilder.Redirect.DISCARD).start();
            if (!waitForTemporary(p, dir)) continue;
            Thread.sleep(random.nextInt(1000));
            p.destroyForcibly();
            p.waitFor();
            if (temporaries(dir).isEmpty()) continue;
            leftTemp++;
            List<String> rerun = new ArrayList<>(launcher);
            rerun.addAll(List.of("quantize", base.gguf().toString(), out.toString(), "Q8_0", "1", "--no-progress"));
            Process q = new ProcessBuilder(rerun).redirectErrorStream(true).redirectOutput(ProcessBuilder.Redirect.DISCARD).start();
            if (q.waitFor() == 0 && temporaries(dir).isEmpty()) swept++;
        }
        return new KillCounts(Files.size(gguf), signalled, finishedFirst, leaked, halfWritten, exits, sigkills, leftTemp, swept);
    }

    private static boolean waitForTemporary(Process p, Path dir) throws Exception {
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(300);
        while (System.nanoTime() < deadline) {
            Optional<Path> t = temporaries(dir).stream().findFirst();
            if (t.isPresent() && Files.size(t.get()) > 0) return true;
            if (!p.isAlive()) return false;
            Thread.sleep(5);
        }
        p.destroyForcibly();
        return false;
    }

    private static List<Path> temporaries(Path dir) throws IOException {
        try (Stream<Path> s = Files.list(dir)) {
            return s.filter(p -> p.getFileName().toString().endsWith(".tmp-requant")).toList();
        } catch (java.nio.file.NoSuchFileException e) {
            return List.of();
        }
    }

    // ---- the report ----------------------------------------------------------------------------------------------

    static void report(List<HostileCase> cases, List<Result> results, double seconds, KillCounts k, Path work) throws IOException {
        Map<String, Integer> perCommand = new TreeMap<>();
        Map<String, Integer> perPoint = new TreeMap<>();
        for (HostileCase c : cases) perPoint.merge(c.point(), 1, Integer::sum);
        Map<HostileVerdict.Outcome, Integer> outcomes = new EnumMap<>(HostileVerdict.Outcome.class);
        for (HostileVerdict.Outcome o : HostileVerdict.Outcome.values()) outcomes.put(o, 0);
        for (Result r : results) {
            perCommand.merge(r.run().command(), 1, Integer::sum);
            outcomes.merge(r.verdict().outcome(), 1, Integer::sum);
        }
        System.out.printf(Locale.ROOT, "hostile corpus: %d inputs (by issue point: %s), %d runs (%s), %.0f s%n", cases.size(), perPoint,
                results.size(), perCommand, seconds);
        System.out.println();
        System.out.println("| outcome | runs |");
        System.out.println("|---|---:|");
        for (var e : outcomes.entrySet()) System.out.printf("| %s | %d |%n", e.getKey().label(), e.getValue());
        System.out.println();
        List<Long> controls = results.stream().filter(r -> r.c().point().equals("control") && r.rssKb() > 0).map(Result::rssKb).sorted().toList();
        Result worst = results.stream().filter(r -> r.rssKb() > 0 && !r.c().point().equals("control"))
                .max(Comparator.comparingLong(Result::rssKb)).orElse(null);
        if (!controls.isEmpty() && worst != null) {
            System.out.printf(Locale.ROOT, "peak RSS: valid inputs (controls) %d to %d MB; any malformed input at most %d MB (%s, %s)%n",
                    controls.getFirst() / 1024, controls.getLast() / 1024, worst.rssKb() / 1024, worst.c().id(), worst.run().command());
        }
        Result slowest = results.stream().max(Comparator.comparingDouble(Result::seconds)).orElse(null);
        if (slowest != null) System.out.printf(Locale.ROOT, "slowest run: %.1f s (%s, %s)%n", slowest.seconds(), slowest.c().id(), slowest.run().command());
        if (k != null) {
            System.out.println();
            System.out.printf("interrupted writes (convert q8_0 and quantize Q4_K_M of a %d MB model, SIGTERM and SIGINT at random points):%n",
                    k.modelBytes() / 1_000_000);
            System.out.printf("  killed mid-write %d (exit codes %s), finished before the signal %d%n", k.signalled(), k.exits(), k.finishedFirst());
            System.out.printf("  temporary files left: %d; outputs left by a killed run: %d%n", k.leaked(), k.halfWritten());
            System.out.printf("  SIGKILL: %d runs, %d left a temporary file, removed by the next write of the same output: %d%n", k.sigkills(),
                    k.sigkillLeftTemp(), k.sweptByRerun());
        }
        List<Result> bad = results.stream().filter(r -> !r.verdict().good()).toList();
        if (!bad.isEmpty()) {
            System.out.println();
            System.out.println("defects:");
            for (Result r : bad) {
                System.out.printf("  %s | %s | %s | %s%n", r.c().id(), r.run().command(), r.verdict().outcome().label(),
                        r.verdict().detail().length() > 200 ? r.verdict().detail().substring(0, 200) : r.verdict().detail());
            }
        }
        try (PrintWriter csv = new PrintWriter(Files.newBufferedWriter(work.resolve("results.csv")))) {
            csv.println("case,point,command,outcome,exit,peak_rss_kb,seconds,detail");
            for (Result r : results) {
                csv.printf(Locale.ROOT, "%s,%s,%s,%s,%d,%d,%.2f,\"%s\"%n", r.c().id(), r.c().point(), r.run().command(), r.verdict().outcome(),
                        r.exit(), r.rssKb(), r.seconds(), r.verdict().detail().replace("\"", "'").replace("\n", " "));
            }
        }
        System.out.println();
        System.out.println("per-run results: " + work.resolve("results.csv"));
    }

    static void deleteTree(Path p) throws IOException {
        if (!Files.exists(p, java.nio.file.LinkOption.NOFOLLOW_LINKS)) return;
        try (Stream<Path> s = Files.walk(p)) {
            for (Path x : s.sorted(Comparator.reverseOrder()).toList()) Files.deleteIfExists(x);
        }
    }
}
