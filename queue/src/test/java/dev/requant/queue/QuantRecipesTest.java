package dev.requant.queue;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.requant.formats.gguf.FileType;
import dev.requant.queue.exec.StepKind;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** queue add --types with the operators' recipes (static, i1), single i1:/static: types and recipe files. */
class QuantRecipesTest {
    @TempDir
    Path dir;

    private JobPlan plan(Path source, String types, String imatrix, Path calibration) throws Exception {
        return JobPlanner.plan(new JobRequest(source, Arrays.asList(types.split(",")), imatrix, calibration, dir.resolve("out"), 0, 3));
    }

    @Test
    void recipesListTheOperatorsTypes() {
        assertThat(QuantRecipes.STATIC).extracting(FileType::name).containsExactly("Q8_0", "Q6_K", "Q5_K_M", "Q5_K_S", "Q4_K_M", "Q4_K_S",
                "Q3_K_L", "Q3_K_M", "Q3_K_S", "Q2_K", "IQ4_XS");
        assertThat(QuantRecipes.I1).extracting(FileType::name).containsExactly("Q6_K", "Q5_K_M", "Q5_K_S", "Q4_K_M", "Q4_K_S", "Q4_0",
                "IQ4_XS", "IQ4_NL", "Q3_K_L", "Q3_K_M", "Q3_K_S", "IQ3_M", "IQ3_S", "IQ3_XS", "IQ3_XXS", "Q2_K", "IQ2_M", "IQ2_S", "IQ2_XS",
                "IQ2_XXS", "IQ1_M", "IQ1_S");
        assertThat(QuantRecipes.STATIC).allMatch(t -> t.producible() && !t.needsImatrix());
        assertThat(QuantRecipes.I1).allMatch(FileType::producible);
    }

    @Test
    void staticWithoutAnImatrixIsElevenPlainQuantizations() throws Exception {
        Path src = Fixtures.gguf(dir.resolve("m-BF16.gguf"));
        JobPlan p = plan(src, "static", "none", null);
        assertThat(p.steps()).hasSize(11).allSatisfy(s -> {
            assertThat(s.kind()).isEqualTo(StepKind.QUANTIZE);
            assertThat(s.imatrix()).isNull();
        });
        assertThat(p.steps().getFirst().output()).isEqualTo(dir.resolve("out/m-Q8_0.gguf"));
        assertThatThrownBy(() -> plan(src, "q4_0,i1", "none", null)).isInstanceOf(JobRejectedException.class)
                .hasMessage("i1: i1 types are made with the job's imatrix: pass --imatrix auto --calibration FILE, or --imatrix FILE");
    }

    @Test
    void staticAndI1WithAComputedImatrix() throws Exception {
        Path hf = Fixtures.hfFolder(dir.resolve("gemma-tiny"));
        Path calib = Files.writeString(dir.resolve("calib.txt"), "some text");
        JobPlan p = plan(hf, "static,i1", "auto", calib);
        Path out = dir.resolve("out");
        Path base = out.resolve("gemma-tiny-BF16.gguf"), imatrix = out.resolve("gemma-tiny.imatrix.gguf");
        assertThat(p.steps()).hasSize(2 + 11 + 22);
        PlannedStep staticQ6 = p.steps().stream().filter(s -> s.output().equals(out.resolve("gemma-tiny-Q6_K.gguf"))).findFirst().orElseThrow();
        assertThat(staticQ6).as("static types need only the base: they run while the imatrix is computed")
                .isEqualTo(new PlannedStep(StepKind.QUANTIZE, FileType.Q6_K, base, null, null, staticQ6.output(), List.of(base)));
        PlannedStep i1Q6 = p.steps().stream().filter(s -> s.output().equals(out.resolve("gemma-tiny-i1-Q6_K.gguf"))).findFirst().orElseThrow();
        assertThat(i1Q6).isEqualTo(new PlannedStep(StepKind.QUANTIZE, FileType.Q6_K, base, imatrix, null, i1Q6.output(), List.of(base, imatrix)));
        assertThat(p.targets()).extracting(QuantTarget::label).contains("Q8_0", "i1-IQ1_S").doesNotHaveDuplicates();
    }

    @Test
    void oneOutputWithAndWithoutTheImatrixIsRefused() throws Exception {
        Path src = Fixtures.gguf(dir.resolve("m.gguf"));
        Path im = Fixtures.ggufImatrix(dir.resolve("m.imatrix.gguf"), true);
        assertThatThrownBy(() -> plan(src, "q4_k_m,static", im.toString(), null)).isInstanceOf(JobRejectedException.class)
                .hasMessageStartingWith("Q4_K_M is asked for both with and without the imatrix");
        assertThat(plan(src, "q4_k_m,static", "none", null).steps()).as("without an imatrix they are the same file").hasSize(11);
        assertThatThrownBy(() -> plan(src, "static:iq2_xxs", im.toString(), null))
                .hasMessage("static IQ2_XXS cannot be made without the imatrix (llama-quantize refuses it); ask for i1:IQ2_XXS");
        assertThatThrownBy(() -> plan(src, "i1:q9_0", im.toString(), null)).hasMessageStartingWith("unknown quant type 'q9_0'");
    }

    @Test
    void recipeFilesHoldTheSameWords() throws Exception {
        Path src = Fixtures.gguf(dir.resolve("m.gguf"));
        Path im = Fixtures.ggufImatrix(dir.resolve("m.imatrix.gguf"), true);
        Path recipe = Files.writeString(dir.resolve("mine.txt"), "# my recipe\nq8_0, i1:iq2_m   # the small one\n\nstatic:q4_0\n");
        JobPlan p = plan(src, recipe.toString(), im.toString(), null);
        assertThat(p.steps()).extracting(s -> s.output().getFileName().toString()).containsExactly("m-Q8_0.gguf", "m-i1-IQ2_M.gguf", "m-Q4_0.gguf");
        assertThat(p.steps()).extracting(s -> s.imatrix() != null).containsExactly(true, true, false);
        assertThatThrownBy(() -> plan(src, dir.resolve("none.txt").toString(), im.toString(), null))
                .hasMessage(dir.resolve("none.txt") + ": recipe file does not exist");
        Path bad = Files.writeString(dir.resolve("bad.txt"), "q8_0 q7_0\n");
        assertThatThrownBy(() -> plan(src, bad.toString(), im.toString(), null)).hasMessageStartingWith(bad + ": unknown quant type 'q7_0'");
    }

    @Test
    void imatrixStepsGoOnlyToWorkersThatTakeThem() throws Exception {
        QueueDatabase db = QueueDatabase.open(dir.resolve("q.db").toString(), true);
        JobQueue queue = new JobQueue(db);
        Path calib = Files.writeString(dir.resolve("calib.txt"), "some text");
        queue.add(plan(Fixtures.hfFolder(dir.resolve("m")), "static:q8_0,i1:iq2_xxs", "auto", calib));
        var synthetic = dev.requant.queue.exec.ExecutorRegistry.synthetic(dev.requant.queue.exec.SyntheticExecutor.parse("duration=0"));
        WorkerConfig cfg = WorkerConfig.defaults().withOnce(true).withLease(java.time.Duration.ofSeconds(5))
                .withPoll(java.time.Duration.ofMillis(20));
        // a worker without a GPU: the base and the static type, then it stops (the imatrix waits for a GPU worker)
        QueueWorker.Summary cpu = new QueueWorker(db, synthetic, cfg.withName("cpu")).capabilities(WorkerCapabilities.of(false, false)).run();
        assertThat(cpu.done()).isEqualTo(2);
        QueueStatus st = queue.status();
        assertThat(st.steps()).extracting(s -> s.kind() + " " + s.state().label())
                .containsExactly("CONVERT done", "IMATRIX queued", "QUANTIZE done", "QUANTIZE queued");
        QueueWorker.Summary gpu = new QueueWorker(db, synthetic, cfg.withName("gpu")).capabilities(WorkerCapabilities.of(true, false)).run();
        assertThat(gpu.done()).isEqualTo(2);
        assertThat(queue.status().steps()).extracting(s -> s.kind() + " " + s.worker())
                .containsExactly("CONVERT cpu", "IMATRIX gpu", "QUANTIZE cpu", "QUANTIZE gpu");
        assertThat(WorkerCapabilities.of(false, true).takes(StepKind.IMATRIX)).isTrue();
    }
}
