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
}
