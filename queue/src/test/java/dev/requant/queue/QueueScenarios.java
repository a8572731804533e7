package dev.requant.queue;

import static org.assertj.core.api.Assertions.assertThat;

import dev.requant.formats.io.AtomicFile;
import dev.requant.queue.exec.ExecutorRegistry;
import dev.requant.queue.exec.StepKind;
import dev.requant.queue.exec.SyntheticExecutor;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.function.Predicate;
import java.util.stream.Stream;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The queue against a real database with real worker processes (separate JVMs running {@link WorkerMain}), killed
 * and crashed at chosen points. Subclasses pick the database and how many worker processes share it.
 */
abstract class QueueScenarios {
    @TempDir
    Path dir;

    String db;
    JobQueue queue;
    Path ledger;
    Path out;
    final List<WorkerProcess> processes = new ArrayList<>();

    /** A fresh, empty database for one test, as a --db value. */
    abstract String newDatabase() throws Exception;

    abstract void dropDatabase();

    /** How many worker processes the multi-worker scenarios start. */
    abstract int workerProcesses();

    @BeforeEach
    void openQueue() throws Exception {
        db = newDatabase();
        queue = new JobQueue(QueueDatabase.open(db, true));
        ledger = dir.resolve("ledger.txt");
        out = dir.resolve("out");
    }

    @AfterEach
    void stopWorkers() {
        processes.forEach(WorkerProcess::close);
        dropDatabase();
    }

    // ---- scenarios -----------------------------------------------------------------------------------------------

    @Test
    void twoHundredTinyJobsDrainWithNoStepRunTwiceAndNoneLost() throws Exception {
        for (int i = 0; i < 200; i++) add(Fixtures.gguf(dir.resolve("src-" + i + ".gguf")), "q8_0");
        List<WorkerProcess> ws = new ArrayList<>();
        for (int i = 0; i < workerProcesses(); i++) ws.add(worker("w" + i, "--once", "--lease-ms", "5000"));
        for (WorkerProcess w : ws) assertThat(w.waitFor(180)).as(w.log()).isZero();

        QueueStatus st = queue.status();
        assertThat(st.steps()).hasSize(200);
        assertThat(st.steps()).allSatisfy(s -> {
            assertThat(s.state()).isEqualTo(StepState.DONE);
            assertThat(s.attempts()).isEqualTo(1);
        });
        Map<Long, Integer> starts = ledgerCount("start");
        Map<Long, Integer> wrote = ledgerCount("wrote");
        for (QueueStatus.Step s : st.steps()) {
            assertThat(starts.get(s.id())).as("starts of step %d", s.id()).isEqualTo(1);
            assertThat(wrote.get(s.id())).as("outputs of step %d", s.id()).isEqualTo(1);
            assertValidOutput(s);
        }
        assertThat(starts.keySet()).hasSize(200);
        assertNoDebris();
        Map<String, Integer> perWorker = new java.util.TreeMap<>();
        for (QueueStatus.Step s : st.steps()) perWorker.merge(s.worker(), 1, Integer::sum);
        System.out.println(getClass().getSimpleName() + ": 200 steps by worker: " + perWorker);
    }

    @Test
    void workerKilledMidStepIsTakenOverAfterItsLeaseExpiresAndTheStepFinishesOnce() throws Exception {
        Path hf = Fixtures.hfFolder(dir.resolve("tiny-hf"));
        JobQueue.AddResult job = add(hf, "q4_0,q8_0");
        assertThat(job.steps()).extracting(JobQueue.AddedStep::kind)
                .containsExactly(StepKind.CONVERT, StepKind.QUANTIZE, StepKind.QUANTIZE);
        long convert = job.steps().getFirst().id();

        WorkerProcess a = worker("a", "--lease-ms", "2000", "--synthetic-rule", "*-BF16.gguf:duration=60000");
        waitFor(Duration.ofSeconds(60), "convert running on a with progress", st -> {
            QueueStatus.Step s = step(st, convert);
            return s.state() == StepState.RUNNING && "a".equals(s.worker()) && s.progress() != null && s.progress() > 0;
        });
        a.process.destroyForcibly();  // SIGKILL: no shutdown hook, no lease release
        assertThat(a.waitFor(30)).isEqualTo(137);
        assertThat(step(queue.status(), convert).state()).isEqualTo(StepState.RUNNING);

        List<WorkerProcess> others = new ArrayList<>();
        for (int i = 0; i < workerProcesses(); i++) {
            others.add(worker("b" + i, "--once", "--lease-ms", "2000", "--synthetic-rule", "*-BF16.gguf:duration=500"));
        }
        for (WorkerProcess w : others) assertThat(w.waitFor(120)).as(w.log()).isZero();

        QueueStatus st = queue.status();
        assertThat(st.steps()).allSatisfy(s -> assertThat(s.state()).isEqualTo(StepState.DONE));
        QueueStatus.Step c = step(st, convert);
        assertThat(c.attempts()).as("the lost lease is not an attempt").isEqualTo(1);
        assertThat(c.lostLeases()).isEqualTo(1);
        assertThat(c.worker()).startsWith("b");
        JobQueue.StepLog log = queue.log(convert);
        assertThat(log.attempts()).extracting(JobQueue.Attempt::outcome).containsExactly("lease expired", "done");
        assertThat(log.attempts().getFirst().worker()).isEqualTo("a");
        assertThat(log.attempts().getFirst().log()).contains("synthetic convert");  // kept from a's last heartbeat
        assertThat(ledgerCount("start").get(convert)).isEqualTo(2);
        assertThat(ledgerCount("wrote").get(convert)).isEqualTo(1);
        for (QueueStatus.Step s : st.steps()) {
            assertValidOutput(s);
            if (s.id() != convert) assertThat(ledgerCount("start").get(s.id())).isEqualTo(1);
        }
        assertNoDebris();
    }

    @Test
    void crashBetweenWriteAndRenameLeavesNoVisibleOutputAndTheStepIsRunAgain() throws Exception {
        JobQueue.AddResult job = add(Fixtures.gguf(dir.resolve("m.gguf")), "q8_0");
        long id = job.steps().getFirst().id();
        Path output = job.steps().getFirst().output();

        WorkerProcess a = worker("a", "--once", "--lease-ms", "2000", "--synthetic-rule", "*-Q8_0.gguf:crash=before-rename");
        assertThat(a.waitFor(60)).as(a.log()).isEqualTo(99);
        assertThat(output).doesNotExist();
        assertThat(visibleFiles()).isEmpty();
        assertThat(debris()).as("the temporary file the crash left").isNotEmpty();
        assertThat(step(queue.status(), id).outputSha256()).isNull();

        WorkerProcess b = worker("b", "--once", "--lease-ms", "2000");
        assertThat(b.waitFor(60)).as(b.log()).isZero();
        QueueStatus.Step s = step(queue.status(), id);
        assertThat(s.state()).isEqualTo(StepState.DONE);
        assertThat(s.attempts()).isEqualTo(1);
        assertThat(s.lostLeases()).isEqualTo(1);
        assertValidOutput(s);
        assertThat(ledgerCount("wrote").get(id)).isEqualTo(1);
        assertNoDebris();
    }

    @Test
    void crashAfterRenameBeforeDoneIsNotRunAgain_theOutputIsVerifiedByItsRecordedHash() throws Exception {
        JobQueue.AddResult job = add(Fixtures.gguf(dir.resolve("m.gguf")), "q8_0");
        long id = job.steps().getFirst().id();

        WorkerProcess a = worker("a", "--once", "--lease-ms", "2000", "--halt-after-publish", "*-Q8_0.gguf");
        assertThat(a.waitFor(60)).as(a.log()).isEqualTo(97);
        QueueStatus.Step crashed = step(queue.status(), id);
        assertThat(crashed.state()).isEqualTo(StepState.RUNNING);
        assertThat(crashed.outputSha256()).isEqualTo(OutputDigest.of(Path.of(crashed.output())).sha256());

        WorkerProcess b = worker("b", "--once", "--lease-ms", "2000");
        assertThat(b.waitFor(60)).as(b.log()).isZero();
        QueueStatus.Step s = step(queue.status(), id);
        assertThat(s.state()).isEqualTo(StepState.DONE);
        assertThat(s.display()).isEqualTo("skipped");
        assertValidOutput(s);
        assertThat(ledgerCount("start").get(id)).as("executions").isEqualTo(1);
        assertThat(queue.log(id).attempts()).extracting(JobQueue.Attempt::outcome).containsExactly("lease expired", "skipped");
    }

    @Test
    void crashAfterRecordingBeforeRenameRunsTheStepAgain() throws Exception {
        JobQueue.AddResult job = add(Fixtures.gguf(dir.resolve("m.gguf")), "q8_0");
        long id = job.steps().getFirst().id();
        Path output = job.steps().getFirst().output();

        WorkerProcess a = worker("a", "--once", "--lease-ms", "2000", "--halt-before-publish", "*-Q8_0.gguf");
        assertThat(a.waitFor(60)).as(a.log()).isEqualTo(98);
        assertThat(output).doesNotExist();
        assertThat(visibleFiles()).isEmpty();
        assertThat(step(queue.status(), id).outputSha256()).as("recorded before the rename").isNotNull();

        WorkerProcess b = worker("b", "--once", "--lease-ms", "2000");
        assertThat(b.waitFor(60)).as(b.log()).isZero();
        QueueStatus.Step s = step(queue.status(), id);
        assertThat(s.state()).isEqualTo(StepState.DONE);
        assertThat(s.display()).isEqualTo("done");
        assertValidOutput(s);
        assertThat(ledgerCount("start").get(id)).isEqualTo(2);
        assertNoDebris();
    }

    /** Issue 18.5: a killed worker's lease expiry is counted apart; kills do not use up the step's attempts. */
    @Test
    void killedWorkersDoNotUseUpTheStepsAttempts() throws Exception {
        JobQueue.AddResult job = queue.add(JobPlanner.plan(new JobRequest(Fixtures.gguf(dir.resolve("m.gguf")),
                List.of("q8_0"), "none", null, out, 0, 1)));
        long id = job.steps().getFirst().id();
        for (String name : List.of("a", "b")) {
            WorkerProcess w = worker(name, "--once", "--lease-ms", "1000", "--synthetic-rule", "*-Q8_0.gguf:crash=before-rename");
            assertThat(w.waitFor(60)).as(w.log()).isEqualTo(99);
        }
        WorkerProcess c = worker("c", "--once", "--lease-ms", "1000");
        assertThat(c.waitFor(60)).as(c.log()).isZero();
        QueueStatus.Step s = step(queue.status(), id);
        assertThat(s.state()).as("one attempt allowed, two workers killed: still done").isEqualTo(StepState.DONE);
        assertThat(s.attempts()).isEqualTo(1);
        assertThat(s.lostLeases()).isEqualTo(2);
        assertThat(queue.log(id).attempts()).extracting(JobQueue.Attempt::outcome).containsExactly("lease expired", "lease expired", "done");
        assertValidOutput(s);
        assertNoDebris();
    }

    @Test
    void aStepThatKeepsKillingItsWorkersFailsOnceItHasLostTooManyLeases() throws Exception {
        JobQueue.AddResult job = queue.add(JobPlanner.plan(new JobRequest(Fixtures.gguf(dir.resolve("m.gguf")),
                List.of("q8_0"), "none", null, out, 0, 3)));
        long id = job.steps().getFirst().id();
        for (String name : List.of("a", "b")) {
            WorkerProcess w = worker(name, "--once", "--lease-ms", "1000", "--max-lost-leases", "2",
                    "--synthetic-rule", "*-Q8_0.gguf:crash=before-rename");
            assertThat(w.waitFor(60)).as(w.log()).isEqualTo(99);
        }
        WorkerProcess c = worker("c", "--once", "--lease-ms", "1000", "--max-lost-leases", "2");
        assertThat(c.waitFor(60)).as(c.log()).isZero();
        QueueStatus.Step s = step(queue.status(), id);
        assertThat(s.state()).isEqualTo(StepState.FAILED);
        assertThat(s.error()).isEqualTo("lease expired: worker b stopped renewing it (died, hung or lost the database);"
                + " its lease was lost 2 times (limit 2): the step may be what kills its workers");
        assertThat(queue.log(id).attempts()).extracting(JobQueue.Attempt::worker).containsExactly("a", "b");
        assertThat(queue.log(id).attempts()).extracting(JobQueue.Attempt::outcome).containsOnly("lease expired");
        assertThat(ledgerCount("start").get(id)).isEqualTo(2);
        assertThat(visibleFiles()).isEmpty();
    }

    @Test
    void sigtermReleasesTheLeaseAtOnceSoAnotherWorkerNeedNotWaitForItToExpire() throws Exception {
        JobQueue.AddResult job = add(Fixtures.gguf(dir.resolve("m.gguf")), "q8_0");
        long id = job.steps().getFirst().id();
        // A lease far longer than the test: the step can only move on if it is released.
        WorkerProcess a = worker("a", "--lease-ms", "600000", "--synthetic-rule", "*-Q8_0.gguf:duration=600000");
        waitFor(Duration.ofSeconds(60), "step running on a", st -> step(st, id).state() == StepState.RUNNING);
        Thread.sleep(300);  // into the executor
        a.process.destroy();  // SIGTERM
        assertThat(a.waitFor(30)).as(a.log()).isEqualTo(143);

        QueueStatus.Step released = step(queue.status(), id);
        assertThat(released.state()).isEqualTo(StepState.QUEUED);
        assertThat(released.worker()).isNull();
        assertThat(released.attempts()).isZero();
        assertThat(queue.log(id).attempts()).extracting(JobQueue.Attempt::outcome).containsExactly("released");
        assertThat(debris()).isEmpty();

        WorkerProcess b = worker("b", "--once", "--lease-ms", "600000");
        assertThat(b.waitFor(60)).as(b.log()).isZero();
        QueueStatus.Step s = step(queue.status(), id);
        assertThat(s.state()).isEqualTo(StepState.DONE);
        assertThat(s.attempts()).isEqualTo(1);
        assertValidOutput(s);
    }

    @Test
    void failedAttemptsAreRetriedWithBackoffUntilTheLimitAndKeepTheirErrorsAndLogs() throws Exception {
        JobQueue.AddResult job = add(Fixtures.gguf(dir.resolve("m.gguf")), "q4_0,q8_0");
        long q4 = job.steps().get(0).id();
        long q8 = job.steps().get(1).id();
        SyntheticExecutor failing = SyntheticExecutor.parse("ledger=" + ledger + ",rule=*-Q4_0.gguf:fail=9,rule=*-Q8_0.gguf:fail=1");
        QueueWorker.Summary sum = inProcessWorker(failing).run();
        assertThat(sum.done()).isEqualTo(1);
        assertThat(sum.failed()).isEqualTo(1);

        QueueStatus st = queue.status();
        QueueStatus.Step f = step(st, q4);
        assertThat(f.state()).isEqualTo(StepState.FAILED);
        assertThat(f.attempts()).isEqualTo(3);
        assertThat(f.error()).isEqualTo("synthetic failure of attempt 3 (rule *-Q4_0.gguf)");
        assertThat(Path.of(f.output())).doesNotExist();
        assertThat(step(st, q8).state()).isEqualTo(StepState.DONE);
        assertThat(step(st, q8).attempts()).isEqualTo(2);
        assertValidOutput(step(st, q8));

        List<JobQueue.Attempt> attempts = queue.log(q4).attempts();
        assertThat(attempts).hasSize(3).allSatisfy(a -> {
            assertThat(a.outcome()).isEqualTo("failed");
            assertThat(a.log()).contains("synthetic quantize").contains("failed: java.io.IOException: synthetic failure");
        });
        for (int k = 0; k < 3; k++) assertThat(attempts.get(k).error()).contains("attempt " + (k + 1));
        // Backoff: the database would not lease the step again before base * 2^(k-1) had passed.
        assertThat(attempts.get(1).startedAt() - attempts.get(0).finishedAt()).isGreaterThanOrEqualTo(100);
        assertThat(attempts.get(2).startedAt() - attempts.get(1).finishedAt()).isGreaterThanOrEqualTo(200);

        assertThat(queue.retryFailed()).isEqualTo(1);
        assertThat(step(queue.status(), q4).state()).isEqualTo(StepState.QUEUED);
        assertThat(step(queue.status(), q4).attempts()).isZero();
        inProcessWorker(SyntheticExecutor.parse("ledger=" + ledger)).run();
        assertThat(step(queue.status(), q4).state()).isEqualTo(StepState.DONE);
        assertValidOutput(step(queue.status(), q4));
    }

    @Test
    void cancellingAJobStopsItsRunningStepAndItsWaitingSteps() throws Exception {
        JobQueue.AddResult job = add(Fixtures.hfFolder(dir.resolve("tiny-hf")), "q4_0");
        long convert = job.steps().get(0).id();
        long quant = job.steps().get(1).id();
        QueueWorker worker = inProcessWorker(SyntheticExecutor.parse("ledger=" + ledger + ",rule=*-BF16.gguf:duration=600000"));
        Thread t = Thread.ofPlatform().start(() -> {
            try {
                worker.run();
            } catch (InterruptedException | java.sql.SQLException ignored) {
                // test ends
            }
        });
        waitFor(Duration.ofSeconds(30), "convert running", st -> step(st, convert).state() == StepState.RUNNING);
        assertThat(step(queue.status(), quant).display()).isEqualTo("waiting");
        assertThat(queue.cancelJob(job.jobId())).isEqualTo(2);
        t.join(Duration.ofSeconds(30));
        assertThat(t.isAlive()).as("worker stopped: nothing left to run").isFalse();

        QueueStatus st = queue.status();
        assertThat(st.steps()).extracting(QueueStatus.Step::state).containsOnly(StepState.CANCELLED);
        assertThat(visibleFiles()).isEmpty();
        assertNoDebris();
        assertThat(ledgerCount("wrote")).isEmpty();

        assertThat(queue.retryJob(job.jobId())).isEqualTo(2);
        inProcessWorker(SyntheticExecutor.parse("ledger=" + ledger)).run();
        assertThat(queue.status().steps()).allSatisfy(s -> {
            assertThat(s.state()).isEqualTo(StepState.DONE);
            assertValidOutput(s);
        });
    }

    // ---- helpers -------------------------------------------------------------------------------------------------

    JobQueue.AddResult add(Path source, String types) throws Exception {
        JobPlan plan = JobPlanner.plan(new JobRequest(source, Arrays.asList(types.split(",")), "none", null, out, 0, 3));
        return queue.add(plan);
    }

    /** A worker JVM on this test's database; "--synthetic-rule R" adds a rule to the executor settings. */
    WorkerProcess worker(String name, String... args) throws Exception {
        StringBuilder synthetic = new StringBuilder("ledger=" + ledger);
        List<String> rest = new ArrayList<>(List.of("--db", db));
        for (int i = 0; i < args.length; i++) {
            if (args[i].equals("--synthetic-rule")) synthetic.append(",rule=").append(args[++i]);
            else rest.add(args[i]);
        }
        rest.add("--synthetic");
        rest.add(synthetic.toString());
        WorkerProcess w = WorkerProcess.start(dir, name, rest.toArray(String[]::new));
        processes.add(w);
        return w;
    }

    QueueWorker inProcessWorker(SyntheticExecutor executor) throws Exception {
        WorkerConfig cfg = WorkerConfig.defaults().withName("in-process").withOnce(true).withLease(Duration.ofMillis(900))
                .withPoll(Duration.ofMillis(50)).withBackoff(Duration.ofMillis(100), Duration.ofSeconds(5));
        return new QueueWorker(QueueDatabase.open(db, false), ExecutorRegistry.synthetic(executor), cfg);
    }

    static QueueStatus.Step step(QueueStatus st, long id) {
        return st.steps().stream().filter(s -> s.id() == id).findFirst().orElseThrow();
    }

    void waitFor(Duration timeout, String what, Predicate<QueueStatus> condition) throws Exception {
        long end = System.nanoTime() + timeout.toNanos();
        while (System.nanoTime() < end) {
            if (condition.test(queue.status())) return;
            Thread.sleep(50);
        }
        StringBuilder logs = new StringBuilder();
        for (WorkerProcess w : processes) logs.append("\n--- ").append(w.name).append(":\n").append(w.log());
        throw new AssertionError("timed out waiting for: " + what + logs);
    }

    Map<Long, Integer> ledgerCount(String event) throws Exception {
        Map<Long, Integer> m = new HashMap<>();
        if (!Files.exists(ledger)) return m;
        for (String line : Files.readAllLines(ledger)) {
            String[] f = line.split(" ");
            if (f[0].equals(event)) m.merge(Long.parseLong(f[1]), 1, Integer::sum);
        }
        return m;
    }

    /** The output exists, has exactly the bytes the synthetic executor writes, and the recorded size and SHA-256. */
    static void assertValidOutput(QueueStatus.Step s) {
        try {
            Path file = Path.of(s.output());
            byte[] expected = SyntheticExecutor.expectedContent(s.kind(), s.type(), file.getFileName().toString(), 4096);
            assertThat(Files.readAllBytes(file)).as("content of %s", file).isEqualTo(expected);
            OutputDigest d = OutputDigest.of(file);
            assertThat(s.outputSize()).isEqualTo(d.size());
            assertThat(s.outputSha256()).isEqualTo(d.sha256());
        } catch (java.io.IOException e) {
            throw new AssertionError(e);
        }
    }

    List<Path> visibleFiles() throws Exception {
        if (!Files.isDirectory(out)) return List.of();
        try (Stream<Path> s = Files.list(out)) {
            return s.filter(p -> !p.getFileName().toString().startsWith(".")).toList();
        }
    }

    List<Path> debris() throws Exception {
        if (!Files.isDirectory(out)) return List.of();
        try (Stream<Path> s = Files.list(out)) {
            return s.filter(p -> p.getFileName().toString().endsWith(AtomicFile.TEMP_SUFFIX)).toList();
        }
    }

    void assertNoDebris() throws Exception {
        assertThat(debris()).as("temporary files left in %s", out).isEmpty();
    }
}
