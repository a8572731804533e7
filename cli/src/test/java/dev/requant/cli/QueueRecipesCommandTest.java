package dev.requant.cli;

import static org.assertj.core.api.Assertions.assertThat;

import dev.requant.testmodels.Golden;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** `queue add --types` with the operators' recipes, and `queue run --gpu` on a machine without one. */
class QueueRecipesCommandTest {
    @TempDir
    Path dir;

    private String db() { return dir.resolve("q.db").toString(); }

    @Test
    void staticAndI1RecipesExpandToNamedSteps() throws Exception {
        String hf = Golden.hf("gemma3-tiny").toString();
        Path out = dir.resolve("out");
        CliRun noImatrix = CliRun.of("queue", "add", "--db", db(), hf, "--types", "static,i1", "--out", out.toString());
        assertThat(noImatrix.code()).isEqualTo(1);
        assertThat(noImatrix.err()).isEqualTo("requant: error: i1: i1 types are made with the job's imatrix: pass --imatrix auto"
                + " --calibration FILE, or --imatrix FILE\n");
        CliRun add = CliRun.of("queue", "add", "--db", db(), hf, "--types", "static,i1", "--imatrix",
                Golden.llamacpp("gemma3-tiny.imatrix.gguf").toString(), "--out", out.toString());
        assertThat(add.code()).as(add.err()).isZero();
        assertThat(add.out()).startsWith("job 1: gemma3-tiny (Hugging Face folder) -> " + out + ", 34 steps")
                .contains("gemma3-tiny-Q8_0.gguf", "gemma3-tiny-IQ4_XS.gguf", "gemma3-tiny-i1-IQ1_S.gguf", "gemma3-tiny-i1-Q4_0.gguf");
        CliRun status = CliRun.of("queue", "status", "--db", db(), "--json");
        String types = new com.fasterxml.jackson.databind.ObjectMapper().readTree(status.out()).findValue("types").asText();
        assertThat(types).startsWith("Q8_0,Q6_K,Q5_K_M,Q5_K_S,Q4_K_M,Q4_K_S,Q3_K_L,Q3_K_M,Q3_K_S,Q2_K,IQ4_XS,i1-Q6_K,").endsWith(",i1-IQ1_S");
    }

    @Test
    void gpuIsCheckedWhenTheWorkerStarts() {
        if (dev.requant.cuda.CudaDevice.unavailableReason() == null) return; // this machine has a GPU: nothing to refuse
        CliRun r = CliRun.of("queue", "run", "--db", db(), "--once", "--gpu");
        assertThat(r.code()).isEqualTo(1);
        assertThat(r.err()).startsWith("requant: error: --gpu: this machine cannot run CUDA (").endsWith("; leave --gpu off, or use --imatrix-on-cpu\n");
    }
}
