package dev.requant.ops.queue;

import static org.assertj.core.api.Assertions.assertThat;

import dev.requant.queue.JobPlanner;
import dev.requant.queue.JobQueue;
import dev.requant.queue.JobRequest;
import dev.requant.queue.QueueDatabase;
import dev.requant.queue.QueueStatus;
import dev.requant.queue.QueueWorker;
import dev.requant.queue.StepState;
import dev.requant.queue.WorkerConfig;
import dev.requant.queue.exec.StepKind;
import dev.requant.testmodels.SyntheticCheckpoint;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** The queue's real executors, called as operations: typed failures reach the queue with their meaning. */
class OperationExecutorsTest {
    @TempDir
    Path dir;

    private QueueWorker.Summary drain(QueueDatabase db) throws Exception {
        WorkerConfig cfg = WorkerConfig.defaults().withOnce(true).withLease(Duration.ofSeconds(30)).withPoll(Duration.ofMillis(20))
                .withBackoff(Duration.ofMillis(10), Duration.ofMillis(50));
        return new QueueWorker(db, OperationExecutors.registry(), cfg).run();
    }

    @Test
    void aSourceThatGoesBadAfterAddFailsOnItsFirstAttemptAndBlocksWhatNeedsIt() throws Exception {
        Path hf = SyntheticCheckpoint.gemma3().write(dir.resolve("model"));
        QueueDatabase db = QueueDatabase.open(dir.resolve("q.db").toString(), true);
        JobQueue queue = new JobQueue(db);
        queue.add(JobPlanner.plan(new JobRequest(hf, List.of("q8_0", "q4_0"), "none", null, dir.resolve("out"), 0, 3)));
        // the checkpoint is damaged after it was accepted: a shard cut short
        Path shard;
        try (var s = Files.list(hf)) {
            shard = s.filter(p -> p.toString().endsWith(".safetensors")).findFirst().orElseThrow();
        }
        byte[] bytes = Files.readAllBytes(shard);
        Files.write(shard, java.util.Arrays.copyOf(bytes, bytes.length / 2));

        QueueWorker.Summary s = drain(db);

        assertThat(s.failed()).isEqualTo(1);
        assertThat(s.retrying()).isZero();
        QueueStatus st = queue.status();
        QueueStatus.Step convert = st.steps().stream().filter(x -> x.kind() == StepKind.CONVERT).findFirst().orElseThrow();
        assertThat(convert.state()).isEqualTo(StepState.FAILED);
        assertThat(convert.attempts()).isEqualTo(1); // bad input is never retried
        assertThat(convert.error()).contains(shard.getFileName().toString()).doesNotContain("\n");
        assertThat(queue.log(convert.id()).attempts().getFirst().log()).contains("not retried");
        assertThat(st.steps().stream().filter(x -> x.kind() == StepKind.QUANTIZE))
                .hasSize(2).allSatisfy(q -> assertThat(q.display()).isEqualTo("blocked"));
        assertThat(dir.resolve("out")).isEmptyDirectory();
        assertThat(st.jobs()).singleElement().satisfies(j -> assertThat(j.state()).isEqualTo("failed"));
    }

    @Test
    void aGoodSourceGoesThroughConvertAndQuantize() throws Exception {
        Path hf = SyntheticCheckpoint.gemma3().write(dir.resolve("model"));
        QueueDatabase db = QueueDatabase.open(dir.resolve("q.db").toString(), true);
        JobQueue queue = new JobQueue(db);
        queue.add(JobPlanner.plan(new JobRequest(hf, List.of("q8_0"), "none", null, dir.resolve("out"), 0, 3)));
        QueueWorker.Summary s = drain(db);
        assertThat(s.done()).isEqualTo(2);
        assertThat(queue.status().steps()).allSatisfy(x -> assertThat(x.state()).isEqualTo(StepState.DONE));
        assertThat(dir.resolve("out/model-BF16.gguf")).exists();
        assertThat(dir.resolve("out/model-Q8_0.gguf")).exists();
        assertThat(queue.status().jobs()).singleElement().satisfies(j -> assertThat(j.state()).isEqualTo("done"));
    }
}
