package dev.requant.cli;

import dev.requant.formats.gguf.FileType;

import static org.assertj.core.api.Assertions.assertThat;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.requant.testmodels.Golden;
import java.nio.file.Files;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** `requant queue ...` end to end in-process: messages, exit codes, and a full run with the synthetic executor. */
class QueueCommandTest {
    @TempDir
    Path dir;

    private String db() { return dir.resolve("q.db").toString(); }

    @Test
    void badJobsAreRefusedWithOneLineAndExitCode1() {
        CliRun missing = CliRun.of("queue", "add", "--db", db(), dir.resolve("nope").toString(), "--types", "q4_0");
        assertThat(missing.code()).isEqualTo(1);
        assertThat(missing.err()).isEqualTo("requant: error: " + dir.resolve("nope") + ": source does not exist\n");

        String hf = Golden.hf("gemma3-tiny").toString();
        CliRun unknown = CliRun.of("queue", "add", "--db", db(), hf, "--types", "q4_0,q5_x");
        assertThat(unknown.code()).isEqualTo(1);
        assertThat(unknown.err()).startsWith("requant: error: unknown quant type 'q5_x' (this build can make Q1_0, Q2_0, Q4_0, ");
        CliRun needsImatrix = CliRun.of("queue", "add", "--db", db(), hf, "--types", "q4_0,iq2_xxs");
        // refused at add, in one line, before convert and imatrix run
        assertThat(needsImatrix.code()).isEqualTo(1);
        assertThat(needsImatrix.err().strip().lines()).hasSize(1);
        assertThat(needsImatrix.err()).contains("type IQ2_XXS needs an importance matrix");

        CliRun imatrix = CliRun.of("queue", "add", "--db", db(), hf, "--types", "q4_0", "--imatrix", dir.resolve("x.dat").toString());
        assertThat(imatrix.code()).isEqualTo(1);
        assertThat(imatrix.err()).isEqualTo("requant: error: " + dir.resolve("x.dat") + ": imatrix does not exist\n");

        CliRun noTypes = CliRun.of("queue", "add", "--db", db(), hf);
        assertThat(noTypes.code()).isEqualTo(2);
        assertThat(noTypes.err()).contains("Missing required option: '--types=TYPE[,TYPE...]'");

        CliRun status = CliRun.of("queue", "status", "--db", db());
        assertThat(status.code()).as("nothing was added, so there is no queue").isEqualTo(1);
        assertThat(status.err()).contains("no queue database here");
    }

    @Test
    void addRunStatusLogRetryCancel() throws Exception {
        String hf = Golden.hf("gemma3-tiny").toString();
        Path out = dir.resolve("out");
        Path calibration = Golden.text("calibration.txt");
        CliRun add = CliRun.of("queue", "add", "--db", db(), hf, "--types", "q4_0,q8_0", "--imatrix", "auto",
                "--calibration", calibration.toString(), "--out", out.toString());
        assertThat(add.code()).as(add.err()).isZero();
        assertThat(add.out()).startsWith("job 1: gemma3-tiny (Hugging Face folder) -> " + out + ", 4 steps in " + db());
        assertThat(add.out()).contains("gemma3-tiny-BF16.gguf", "gemma3-tiny.imatrix.gguf", "gemma3-tiny-Q4_0.gguf");

        CliRun before = CliRun.of("queue", "status", "--db", db());
        assertThat(before.out()).contains("step  job  source       type     state    worker  progress  ETA  size");
        assertThat(before.out()).endsWith("1 job, 4 steps: 1 queued, 3 waiting; 0 workers busy; 0 B written\n");

        // a worker without --gpu converts, but leaves the imatrix (and so the quantizations that need it) to a GPU worker
        CliRun cpu = CliRun.of("queue", "run", "--db", db(), "--once", "--executor", "synthetic", "--synthetic-settings", "duration=0",
                "--name", "cpu-worker");
        assertThat(cpu.code()).as(cpu.err()).isZero();
        assertThat(cpu.err()).contains("worker cpu-worker takes convert, quantize steps (imatrix steps are left to workers started with --gpu)");
        assertThat(cpu.out()).isEqualTo("worker cpu-worker: 1 done, 0 skipped (already there), 0 failed, 0 to retry, 0 released, 0 lost\n");
        CliRun worker = CliRun.of("queue", "run", "--db", db(), "--once", "--executor", "synthetic", "--workers", "2",
                "--synthetic-settings", "duration=0", "--name", "test-worker", "--gpu");
        assertThat(worker.code()).as(worker.err()).isZero();
        assertThat(worker.out()).isEqualTo("worker test-worker: 3 done, 0 skipped (already there), 0 failed, 0 to retry, 0 released, 0 lost\n");
        assertThat(Files.list(out).map(p -> p.getFileName().toString()).filter(n -> !n.startsWith(".")).sorted().toList())
                .containsExactly("gemma3-tiny-BF16.gguf", "gemma3-tiny-Q4_0.gguf", "gemma3-tiny-Q8_0.gguf", "gemma3-tiny.imatrix.gguf");

        CliRun json = CliRun.of("queue", "status", "--db", db(), "--json");
        JsonNode root = new ObjectMapper().readTree(json.out());
        assertThat(root.path("summary").path("done").asInt()).isEqualTo(4);
        assertThat(root.path("summary").path("drained").asBoolean()).isTrue();
        assertThat(root.path("steps")).hasSize(4);
        JsonNode q4 = root.path("steps").get(2);
        assertThat(q4.path("type").asText()).isEqualTo("Q4_0");
        assertThat(q4.path("output_size").asLong()).isEqualTo(Files.size(out.resolve("gemma3-tiny-Q4_0.gguf")));
        assertThat(q4.path("output_sha256").asText()).hasSize(64);
        assertThat(q4.path("depends_on")).hasSize(2);

        CliRun log = CliRun.of("queue", "log", "--db", db(), "3");
        assertThat(log.out()).startsWith("step 3: quantize Q4_0 of gemma3-tiny (job [1])\n  state   done, attempt 1 of 3\n");
        assertThat(log.out()).contains("sha256  " + q4.path("output_sha256").asText(), "synthetic quantize -> gemma3-tiny-Q4_0.gguf");

        CliRun retryDone = CliRun.of("queue", "retry", "--db", db(), "3");
        assertThat(retryDone.code()).isEqualTo(1);
        assertThat(retryDone.err()).isEqualTo("requant: error: step 3 is done; only failed or cancelled steps can be retried\n");
        CliRun both = CliRun.of("queue", "retry", "--db", db(), "3", "--failed");
        assertThat(both.code()).isEqualTo(2);
        CliRun badId = CliRun.of("queue", "cancel", "--db", db(), "x7");
        assertThat(badId.err()).isEqualTo("requant: error: 'x7' is not a step id (e.g. 12) or a job id (e.g. j3)\n");

        CliRun add2 = CliRun.of("queue", "add", "--db", db(), hf, "--types", "q6_k", "--out", out.toString());
        assertThat(add2.out()).contains("shared with an earlier job (done)");
        assertThat(CliRun.of("queue", "cancel", "--db", db(), "j2").out()).isEqualTo("cancelled: 1 step\n");
        assertThat(CliRun.of("queue", "retry", "--db", db(), "j2").out()).isEqualTo("queued again: 1 step\n");
    }

    /** The real steps: an HF folder becomes a BF16 base, an imatrix and two quantized files, each verified and hashed. */
    @Test
    void realStepsTurnACheckpointIntoQuantizedFiles() throws Exception {
        Path calibration = dir.resolve("calibration.txt");
        Files.writeString(calibration, Files.readString(Golden.text("calibration.txt")).substring(0, 24_000));
        Path out = dir.resolve("out");
        CliRun add = CliRun.of("queue", "add", "--db", db(), Golden.hf("gemma3-tiny").toString(), "--types", "q8_0,q4_0",
                "--imatrix", "auto", "--calibration", calibration.toString(), "--out", out.toString());
        assertThat(add.code()).as(add.err()).isZero();
        CliRun worker = CliRun.of("queue", "run", "--db", db(), "--once", "--poll", "0.05", "--imatrix-on-cpu");
        assertThat(worker.out()).as(worker.err()).contains("4 done", "0 failed");
        JsonNode status = new ObjectMapper().readTree(CliRun.of("queue", "status", "--db", db(), "--json").out());
        int checked = 0;
        for (JsonNode step : status.get("steps")) {
            assertThat(step.get("state").asText()).isEqualTo("done");
            Path file = Path.of(step.get("output").asText());
            assertThat(Files.size(file)).isEqualTo(step.get("output_size").asLong());
            String sha = java.util.HexFormat.of().formatHex(java.security.MessageDigest.getInstance("SHA-256").digest(Files.readAllBytes(file)));
            assertThat(sha).isEqualTo(step.get("output_sha256").asText());
            checked++;
        }
        assertThat(checked).isEqualTo(4);
        try (var q4 = dev.requant.formats.gguf.GgufFile.open(out.resolve("gemma3-tiny-Q4_0.gguf"))) {
            assertThat(q4.metadata().getLong("general.file_type")).contains(2L);
            assertThat(q4.metadata().getString("quantize.imatrix.file")).isPresent();
        }
    }

    private void sql(String statement) throws Exception {
        try (var c = java.sql.DriverManager.getConnection("jdbc:sqlite:" + db()); var st = c.createStatement()) {
            st.execute(statement);
        }
    }

    /**
     * Issue 18.5 from the CLI: a step kind this build does not know (a newer requant sharing the database) is shown and
     * left alone, lost leases are shown apart from attempts, a damaged database stops `queue run --once` with one line
     * instead of retrying forever, and a second queue cannot take an output folder's finished outputs.
     */
    @Test
    void unknownKindsLostLeasesADamagedDatabaseAndASharedOutputFolder() throws Exception {
        String hf = Golden.hf("gemma3-tiny").toString();
        Path out = dir.resolve("out");
        assertThat(CliRun.of("queue", "add", "--db", db(), hf, "--types", "q8_0", "--out", out.toString()).code()).isZero();
        sql("UPDATE steps SET kind = 'distill' WHERE id = 1");
        CliRun status = CliRun.of("queue", "status", "--db", db());
        assertThat(status.code()).as(status.err()).isZero();
        assertThat(status.out()).contains("unknown kind").endsWith("1 job, 2 steps: 1 waiting, 1 unknown kind; 0 workers busy; 0 B written\n");
        CliRun idle = CliRun.of("queue", "run", "--db", db(), "--once", "--executor", "synthetic", "--name", "old", "--poll", "0.05");
        assertThat(idle.code()).as(idle.err()).isZero();
        assertThat(idle.err()).doesNotContain("\tat ", "Exception");
        assertThat(idle.out()).isEqualTo("worker old: 0 done, 0 skipped (already there), 0 failed, 0 to retry, 0 released, 0 lost\n");

        sql("UPDATE steps SET kind = 'convert', lost_leases = 2 WHERE id = 1");
        assertThat(CliRun.of("queue", "status", "--db", db()).out()).contains("queued [2 lost]");
        assertThat(CliRun.of("queue", "log", "--db", db(), "1").out()).contains("2 lost leases (not counted as attempts)");
        CliRun run = CliRun.of("queue", "run", "--db", db(), "--once", "--executor", "synthetic", "--poll", "0.05");
        assertThat(run.out()).as(run.err()).contains("2 done");

        String other = dir.resolve("other.db").toString();
        CliRun taken = CliRun.of("queue", "add", "--db", other, hf, "--types", "q8_0", "--out", out.toString());
        assertThat(taken.code()).isEqualTo(1);
        assertThat(taken.err()).isEqualTo("requant: error: " + out.resolve("gemma3-tiny-BF16.gguf") + ": already the output of step 1 of another queue ("
                + db() + "); pass another --out\n");

        org.assertj.core.api.Assertions.assertThat(CliRun.of("queue", "add", "--db", db(), hf, "--types", "q4_0", "--out", out.toString()).code()).isZero();
        dev.requant.testmodels.hostile.SqliteDamage.corruptTable(Path.of(db()), "steps");
        long start = System.nanoTime();
        CliRun broken = CliRun.of("queue", "run", "--db", db(), "--once", "--executor", "synthetic", "--poll", "0.05");
        assertThat(java.time.Duration.ofNanos(System.nanoTime() - start)).isLessThan(java.time.Duration.ofSeconds(60));
        assertThat(broken.code()).isEqualTo(1);
        assertThat(broken.err().lines().filter(l -> l.startsWith("requant: error: "))).singleElement().asString()
                .startsWith("requant: error: " + db() + ": the database cannot be used (").contains("malformed");
        assertThat(broken.err()).doesNotContain("\tat ");
    }

    /** Issue 18.6: model names come from folder names; queue add, status and log print them with escapes. */
    @Test
    void namesThatATerminalWouldInterpretArePrintedEscaped() throws Exception {
        Path source = Files.createSymbolicLink(dir.resolve("evil\u001b[2J\u0007name"), Golden.hf("gemma3-tiny"));
        CliRun add = CliRun.of("queue", "add", "--db", db(), source.toString(), "--types", "q8_0", "--out", dir.resolve("out").toString());
        assertThat(add.code()).as(add.err()).isZero();
        CliRun status = CliRun.of("queue", "status", "--db", db());
        CliRun log = CliRun.of("queue", "log", "--db", db(), "2");
        for (CliRun r : java.util.List.of(add, status, log)) {
            assertThat(r.out() + r.err()).doesNotContain("\u001b", "\u0007").contains("evil\\x1b[2J\\x07name");
        }
    }
}
