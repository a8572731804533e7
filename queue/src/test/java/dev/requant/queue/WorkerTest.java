package dev.requant.queue;

import static org.assertj.core.api.Assertions.assertThat;

import dev.requant.queue.exec.ExecutorRegistry;
import dev.requant.queue.exec.SyntheticExecutor;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** One in-process worker on SQLite: the step life cycle's edge cases. */
class WorkerTest {
    @TempDir
    Path dir;
    QueueDatabase db;
    JobQueue queue;

    @BeforeEach
    void open() throws Exception {
        db = QueueDatabase.open(dir.resolve("q.db").toString(), true);
        queue = new JobQueue(db);
    }

    private JobQueue.AddResult add(Path source, String types) throws Exception {
        return queue.add(JobPlanner.plan(new JobRequest(source, List.of(types.split(",")), "none", null, dir.resolve("out"), 0, 3)));
    }

    private QueueWorker.Summary drain(ExecutorRegistry executors) throws Exception {
        WorkerConfig cfg = WorkerConfig.defaults().withOnce(true).withLease(Duration.ofSeconds(5)).withPoll(Duration.ofMillis(20))
                .withBackoff(Duration.ofMillis(10), Duration.ofMillis(50));
        return new QueueWorker(db, executors, cfg).run();
    }

    @Test
    void aKindWithoutExecutorFailsAtOnceWithoutRetries() throws Exception {
        long id = add(Fixtures.gguf(dir.resolve("m.gguf")), "q8_0").steps().getFirst().id();
        QueueWorker.Summary s = drain(ExecutorRegistry.builder().describedAs("test build").build());
        assertThat(s.failed()).isEqualTo(1);
        QueueStatus.Step step = queue.status().steps().getFirst();
        assertThat(step.id()).isEqualTo(id);
        assertThat(step.attempts()).isEqualTo(1);
        assertThat(step.error()).isEqualTo("this requant build has no executor for quantize steps (test build)");
    }

    @Test
    void anExecutorThatWritesNothingFailsTheStep() throws Exception {
        add(Fixtures.gguf(dir.resolve("m.gguf")), "q8_0");
        drain(ExecutorRegistry.builder().quantize((w, ctx) -> ctx.log("forgot to write " + w.output())).build());
        QueueStatus.Step step = queue.status().steps().getFirst();
        assertThat(step.state()).isEqualTo(StepState.FAILED);
        assertThat(step.attempts()).isEqualTo(3);
        assertThat(step.error()).startsWith("the quantize executor returned without writing its output ");
        assertThat(queue.log(step.id()).attempts().getFirst().log()).contains("forgot to write");
    }

    @Test
    void aBaseThatWentMissingIsBuiltAgainBeforeTheStepsThatNeedIt() throws Exception {
        JobQueue.AddResult job = add(Fixtures.hfFolder(dir.resolve("m")), "q4_0");
        ExecutorRegistry synthetic = ExecutorRegistry.synthetic(SyntheticExecutor.parse(""));
        // Run only the convert step: a registry that cannot quantize leaves the quantize step failed.
        drain(ExecutorRegistry.builder().convert((w, ctx) -> SyntheticExecutor.parse("").execute(w, ctx)).build());
        long convert = job.steps().get(0).id();
        long quant = job.steps().get(1).id();
        assertThat(QueueScenarios.step(queue.status(), convert).state()).isEqualTo(StepState.DONE);
        Files.delete(Path.of(QueueScenarios.step(queue.status(), convert).output()));
        queue.retryStep(quant);

        drain(synthetic);
        QueueStatus st = queue.status();
        assertThat(st.steps()).allSatisfy(s -> {
            assertThat(s.state()).isEqualTo(StepState.DONE);
            QueueScenarios.assertValidOutput(s);
        });
        assertThat(queue.log(convert).attempts()).extracting(JobQueue.Attempt::outcome).containsExactly("done", "done");
        List<JobQueue.Attempt> quantAttempts = queue.log(quant).attempts();
        assertThat(quantAttempts).extracting(JobQueue.Attempt::outcome).endsWith("released", "done");
        assertThat(quantAttempts.get(quantAttempts.size() - 2).error())
                .endsWith("(output of step " + convert + ") is missing or changed; step " + convert + " is queued again");
    }

    // ---- issue 18.5 ----------------------------------------------------------------------------------------------

    private void sql(String statement, Object... params) throws Exception {
        try (var c = db.connect()) {
            Sql.update(c, statement, params);
        }
    }

    /** A newer requant shares the database and queues a kind of step this build does not know: it is left alone. */
    @Test
    void stepsOfAKindThisBuildDoesNotKnowAreLeftForWorkersThatKnowThem() throws Exception {
        JobQueue.AddResult hf = add(Fixtures.hfFolder(dir.resolve("m")), "q4_0");
        long gguf = add(Fixtures.gguf(dir.resolve("g.gguf")), "q8_0,q4_0").steps().get(1).id();
        sql("UPDATE steps SET kind = 'distill' WHERE id = ?", hf.steps().getFirst().id());
        sql("UPDATE steps SET quant_type = 'Q1_FUTURE' WHERE id = ?", gguf);

        QueueWorker.Summary s = drain(ExecutorRegistry.synthetic(SyntheticExecutor.parse("")));
        assertThat(s.done()).as("the q8_0 step of the GGUF job").isEqualTo(1);
        assertThat(s.failed()).isZero();
        QueueStatus st = queue.status();
        QueueStatus.Step distill = QueueScenarios.step(st, hf.steps().getFirst().id());
        assertThat(distill.kind()).isNull();
        assertThat(distill.kindLabel()).isEqualTo("distill");
        assertThat(distill.display()).isEqualTo("unknown kind");
        assertThat(distill.attempts()).isZero();
        assertThat(QueueScenarios.step(st, hf.steps().get(1).id()).display()).isEqualTo("waiting");
        assertThat(QueueScenarios.step(st, gguf).state()).isEqualTo(StepState.QUEUED);
        assertThat(QueueScenarios.step(st, gguf).attempts()).isZero();
        assertThat(st.toJson(new com.fasterxml.jackson.databind.ObjectMapper()).toString()).contains("\"kind\":\"distill\"");
    }

    /** A permanently damaged SQLite file stops a worker with the error instead of "database error; trying again" forever. */
    @Test
    void aCorruptDatabaseStopsTheWorkerWithItsError() throws Exception {
        add(Fixtures.gguf(dir.resolve("m.gguf")), "q8_0,q4_0");
        Path file = dir.resolve("q.db");
        dev.requant.testmodels.hostile.SqliteDamage.corruptTable(file, "steps");
        QueueDatabase reopened = QueueDatabase.open(file.toString(), false);
        WorkerConfig cfg = WorkerConfig.defaults().withOnce(true).withLease(Duration.ofSeconds(5)).withPoll(Duration.ofMillis(20));
        long start = System.nanoTime();
        org.assertj.core.api.Assertions.assertThatThrownBy(() -> new QueueWorker(reopened, ExecutorRegistry.synthetic(SyntheticExecutor.parse("")), cfg).run())
                .isInstanceOf(java.sql.SQLException.class)
                .hasMessageStartingWith(file + ": the database cannot be used (")
                .hasMessageContaining("malformed");
        assertThat(Duration.ofNanos(System.nanoTime() - start)).isLessThan(Duration.ofSeconds(30));
    }

    /**
     * Two queue databases writing into one --out folder: same step ids, same output names. Neither deletes the other's
     * staging files, and the second never overwrites the first's finished output (while both would report their own
     * SHA-256): it fails, naming the owner, and a new job for that output is refused at once.
     */
    @Test
    void twoQueuesSharingAnOutputFolderNeitherDeleteNorOverwriteEachOthersFiles() throws Exception {
        Path model = Fixtures.gguf(dir.resolve("m.gguf"));
        JobQueue other = new JobQueue(QueueDatabase.open(dir.resolve("other.db").toString(), true));
        assertThat(other.database().queueId()).isNotEqualTo(db.queueId());
        long mine = add(model, "q8_0").steps().getFirst().id();
        long theirs = other.add(JobPlanner.plan(new JobRequest(model, List.of("q8_0"), "none", null, dir.resolve("out"), 0, 3)))
                .steps().getFirst().id();
        assertThat(theirs).isEqualTo(mine);

        // their worker is mid-step (its staging file in out/) while ours starts the step with the same id and output
        Path out = Files.createDirectories(dir.resolve("out"));
        Path output = out.resolve("m-Q8_0.gguf");
        Path theirStaging = StagingFiles.stagingFor(output, other.database().queueId(), theirs, "0123456789");
        Path ourDebris = StagingFiles.stagingFor(output, db.queueId(), mine, "abcdef0123");
        Files.write(theirStaging, new byte[100]);
        Files.write(ourDebris, new byte[100]);
        WorkerConfig cfg = WorkerConfig.defaults().withOnce(true).withLease(Duration.ofSeconds(5)).withPoll(Duration.ofMillis(20))
                .withBackoff(Duration.ofMillis(10), Duration.ofMillis(50));
        QueueWorker.Summary ours = new QueueWorker(db, ExecutorRegistry.synthetic(SyntheticExecutor.parse("")), cfg).run();
        assertThat(ours.done()).isEqualTo(1);
        assertThat(theirStaging).as("the other queue's staging file").exists();
        assertThat(ourDebris).as("our own earlier attempt's debris").doesNotExist();
        Files.delete(theirStaging);

        // then theirs finishes its step: it must not overwrite our finished output
        QueueWorker.Summary them = new QueueWorker(other.database(), ExecutorRegistry.synthetic(SyntheticExecutor.parse("size=5000")), cfg).run();
        assertThat(them.failed()).isEqualTo(1);
        QueueStatus.Step a = QueueScenarios.step(queue.status(), mine);
        QueueStatus.Step b = QueueScenarios.step(other.status(), theirs);
        assertThat(a.state()).isEqualTo(StepState.DONE);
        QueueScenarios.assertValidOutput(a);
        assertThat(b.state()).as("theirs may not overwrite ours").isEqualTo(StepState.FAILED);
        assertThat(b.attempts()).as("refused at once, not retried").isEqualTo(1);
        assertThat(b.outputSha256()).isNull();
        assertThat(b.error()).isEqualTo(output + " is the output of step " + mine + " of another queue (" + db.description() + ", queue id "
                + db.queueId() + "); it is not overwritten (use another --out)");
        try (var st = Files.list(out)) {
            assertThat(st.map(p -> p.getFileName().toString()).toList()).containsExactlyInAnyOrder("m-Q8_0.gguf", ".m-Q8_0.gguf.requant-owner");
        }
        // a third queue's job for the same output is refused when it is added
        JobQueue third = new JobQueue(QueueDatabase.open(dir.resolve("third.db").toString(), true));
        org.assertj.core.api.Assertions.assertThatThrownBy(() -> third.add(JobPlanner.plan(new JobRequest(model, List.of("q8_0,q4_0".split(",")),
                "none", null, dir.resolve("out"), 0, 3)))).isInstanceOf(JobRejectedException.class).hasMessageContaining("of another queue");
    }

}
