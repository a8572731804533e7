package dev.requant.queue;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.requant.queue.exec.StepKind;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** Storing jobs: shared intermediate steps, clashing outputs, cancel and retry rules (SQLite, no workers). */
class JobQueueTest {
    @TempDir
    Path dir;
    JobQueue queue;

    @BeforeEach
    void open() throws Exception {
        queue = new JobQueue(QueueDatabase.open(dir.resolve("q.db").toString(), true));
    }

    private JobQueue.AddResult add(Path source, String types, String imatrix, Path calibration, Path out) throws Exception {
        return queue.add(JobPlanner.plan(new JobRequest(source, Arrays.asList(types.split(",")), imatrix, calibration, out, 0, 3)));
    }

    @Test
    void jobsOfTheSameSourceShareOneBaseAndOneImatrix() throws Exception {
        Path hf = Fixtures.hfFolder(dir.resolve("m"));
        Path calib = Files.writeString(dir.resolve("calib.txt"), "text");
        Path out = dir.resolve("out");
        JobQueue.AddResult first = add(hf, "q4_0", "auto", calib, out);
        JobQueue.AddResult second = add(hf, "q8_0,q4_0", "auto", calib, out);
        assertThat(first.steps()).extracting(JobQueue.AddedStep::shared).containsOnly(false);
        assertThat(second.steps()).extracting(JobQueue.AddedStep::kind)
                .containsExactly(StepKind.CONVERT, StepKind.IMATRIX, StepKind.QUANTIZE, StepKind.QUANTIZE);
        assertThat(second.steps()).extracting(JobQueue.AddedStep::shared).containsExactly(true, true, false, true);
        assertThat(second.steps().get(0).id()).isEqualTo(first.steps().get(0).id());

        QueueStatus st = queue.status();
        assertThat(st.steps()).hasSize(4);
        assertThat(st.jobs()).hasSize(2);
        QueueStatus.Step base = st.steps().getFirst();
        assertThat(base.jobs()).containsExactly(first.jobId(), second.jobId());
        assertThat(base.display()).isEqualTo("queued");
        assertThat(st.steps().get(1).display()).isEqualTo("waiting");
        assertThat(st.summaryLine()).isEqualTo("2 jobs, 4 steps: 1 queued, 3 waiting; 0 workers busy; 0 B written");

        // Cancelling the first job keeps what the second still needs.
        assertThat(queue.cancelJob(first.jobId())).isZero();
        assertThat(queue.cancelJob(second.jobId())).isEqualTo(4);
        assertThat(queue.status().steps()).extracting(QueueStatus.Step::state).containsOnly(StepState.CANCELLED);
    }

    @Test
    void anOutputAlreadyProducedFromAnotherSourceIsRefused() throws Exception {
        Path out = dir.resolve("out");
        add(Fixtures.gguf(Files.createDirectories(dir.resolve("a")).resolve("model.gguf")), "q4_0", "none", null, out);
        Path other = Fixtures.gguf(Files.createDirectories(dir.resolve("b")).resolve("model.gguf"));
        assertThatThrownBy(() -> add(other, "q4_0", "none", null, out))
                .isInstanceOf(JobRejectedException.class)
                .hasMessageContaining("model-Q4_0.gguf: already the output of step 1 with input " + dir.resolve("a/model.gguf"));
        assertThat(queue.status().jobs()).as("the refused job left nothing behind").hasSize(1);
    }

    @Test
    void cancelAndRetryFollowDependencies() throws Exception {
        JobQueue.AddResult job = add(Fixtures.hfFolder(dir.resolve("m")), "q4_0,q8_0", "none", null, dir.resolve("out"));
        long convert = job.steps().get(0).id();
        assertThat(queue.cancelStep(convert)).as("the convert and both quantizations that need it").isEqualTo(3);
        assertThatThrownBy(() -> queue.cancelStep(convert)).hasMessage("step " + convert + " is already cancelled");
        assertThatThrownBy(() -> queue.retryStep(999)).hasMessageStartingWith("no step 999 in ");
        assertThat(queue.retryFailed()).as("cancelled steps are not failed").isZero();
        assertThat(queue.retryStep(convert)).isEqualTo(3);
        assertThat(queue.status().steps()).extracting(QueueStatus.Step::state).containsOnly(StepState.QUEUED);
        assertThatThrownBy(() -> queue.retryStep(convert)).hasMessageContaining("only failed or cancelled steps can be retried");
    }

    @Test
    void readingAQueueThatDoesNotExistIsAnError() {
        assertThatThrownBy(() -> QueueDatabase.open(dir.resolve("typo.db").toString(), false))
                .hasMessageContaining("typo.db").hasMessageContaining("no queue database");
    }

    @Test
    void postgresUrlsAreTranslatedAndPasswordsKeptOutOfMessages() throws Exception {
        QueueDatabase pg = QueueDatabase.at("postgresql://queue:s3cr%40t@db.example:6543/requant?sslmode=require");
        assertThat(pg.dialect()).isEqualTo(QueueDatabase.Dialect.POSTGRESQL);
        assertThat(pg.description()).isEqualTo("postgresql://queue:***@db.example:6543/requant?sslmode=require");
        assertThat(QueueDatabase.at("sqlite:/tmp/x.db").dialect()).isEqualTo(QueueDatabase.Dialect.SQLITE);
        assertThatThrownBy(() -> QueueDatabase.at("mysql://x/y")).hasMessageContaining("unknown database URL");
    }
}
