package dev.requant.queue;

import dev.requant.formats.gguf.FileType;
import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.requant.queue.JobPlan.ImatrixMode;
import dev.requant.queue.exec.StepKind;
import dev.requant.testmodels.Golden;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** Bad job specs are refused at `add`, with a message that names the problem; good ones expand to steps. */
class JobPlannerTest {
    @TempDir
    Path dir;

    private JobPlan plan(Path source, String types, String imatrix, Path calibration) throws Exception {
        return JobPlanner.plan(new JobRequest(source, Arrays.asList(types.split(",")), imatrix, calibration,
                dir.resolve("out"), 0, 3));
    }

    @Test
    void missingSourceIsRejected() {
        Path missing = dir.resolve("no-such-model");
        assertThatThrownBy(() -> plan(missing, "q4_0", "none", null))
                .isInstanceOf(JobRejectedException.class).hasMessage(missing + ": source does not exist");
    }

    @Test
    void folderWithoutConfigOrWeightsIsRejected() throws Exception {
        Path empty = Files.createDirectories(dir.resolve("empty"));
        assertThatThrownBy(() -> plan(empty, "q4_0", "none", null))
                .isInstanceOf(JobRejectedException.class).hasMessageContaining("no config.json");
        Files.writeString(empty.resolve("config.json"), "{}");
        assertThatThrownBy(() -> plan(empty, "q4_0", "none", null))
                .isInstanceOf(JobRejectedException.class).hasMessageContaining("no weights");
    }

    @Test
    void fileThatIsNotGgufIsRejected() throws Exception {
        Path txt = Files.writeString(dir.resolve("model.gguf"), "not a model");
        assertThatThrownBy(() -> plan(txt, "q4_0", "none", null))
                .isInstanceOf(JobRejectedException.class).hasMessageContaining("not a GGUF file");
        Path truncated = dir.resolve("truncated.gguf");
        Files.write(truncated, Arrays.copyOf(Files.readAllBytes(Fixtures.gguf(dir.resolve("ok.gguf"))), 40));
        assertThatThrownBy(() -> plan(truncated, "q4_0", "none", null))
                .isInstanceOf(JobRejectedException.class).hasMessageStartingWith(truncated.toString());
    }

    @Test
    void unknownTypeIsRejectedWithTheKnownOnes() throws Exception {
        Path src = Fixtures.gguf(dir.resolve("m.gguf"));
        assertThatThrownBy(() -> plan(src, "q4_0,q9_9", "none", null))
                .isInstanceOf(JobRejectedException.class)
                .hasMessageStartingWith("unknown quant type 'q9_9' (this build can make Q1_0, Q2_0, Q4_0, Q4_1")
                .hasMessageContaining("Q4_K_M");
        assertThatThrownBy(() -> plan(src, "", "none", null)).hasMessageStartingWith("no --types given");
    }

    @Test
    void unreadableOrInvalidImatrixIsRejected() throws Exception {
        Path src = Fixtures.gguf(dir.resolve("m.gguf"));
        assertThatThrownBy(() -> plan(src, "q4_0", dir.resolve("missing.imatrix").toString(), null))
                .isInstanceOf(JobRejectedException.class).hasMessageEndingWith("missing.imatrix: imatrix does not exist");
        assertThatThrownBy(() -> plan(src, "q4_0", dir.toString(), null))
                .isInstanceOf(JobRejectedException.class).hasMessageEndingWith("imatrix is not a regular file");
        Path empty = Files.createFile(dir.resolve("empty.dat"));
        assertThatThrownBy(() -> plan(src, "q4_0", empty.toString(), null)).hasMessageEndingWith("imatrix is empty");
        Path garbage = Files.write(dir.resolve("garbage.dat"), new byte[] {-1, -1, -1, -1, 0, 0, 0, 0});
        assertThatThrownBy(() -> plan(src, "q4_0", garbage.toString(), null))
                .hasMessageStartingWith("not a usable imatrix: " + garbage);
        Path noKeys = Fixtures.ggufImatrix(dir.resolve("nokeys.gguf"), false);
        assertThatThrownBy(() -> plan(src, "q4_0", noKeys.toString(), null))
                .hasMessage(noKeys + ": not a usable imatrix: GGUF without the imatrix.datasets, imatrix.chunk_count and"
                        + " imatrix.chunk_size keys (llama-quantize refuses it)");
        Path good = Fixtures.ggufImatrix(dir.resolve("good.imatrix.gguf"), true);
        JobPlan p = plan(src, "q4_0", good.toString(), null);
        assertThat(p.imatrix()).isEqualTo(ImatrixMode.FILE);
        assertThat(p.steps()).singleElement().satisfies(s -> assertThat(s.imatrix()).isEqualTo(good));
    }

    @Test
    void imatrixChoicesAreChecked() throws Exception {
        Path src = Fixtures.gguf(dir.resolve("m.gguf"));
        assertThatThrownBy(() -> plan(src, "q4_0", "auto", null)).hasMessageStartingWith("--imatrix auto needs --calibration FILE");
        assertThatThrownBy(() -> plan(src, "q4_0", "auto", dir.resolve("calib.txt"))).hasMessageEndingWith("calibration text does not exist");
        Path calib = Files.writeString(dir.resolve("calib.txt"), "some text");
        assertThatThrownBy(() -> plan(src, "q4_0", "none", calib)).hasMessage("--calibration is only used with --imatrix auto");
    }

    @Test
    void typeThisBuildCannotMakeIsRefusedAtAdd() throws Exception {
        Path src = Fixtures.gguf(dir.resolve("m.gguf"));
        for (dev.requant.formats.gguf.FileType t : dev.requant.formats.gguf.FileType.values()) {
            if (t.producible()) continue;
            // refused in one line that names what this build can make, before any step exists
            assertThatThrownBy(() -> plan(src, "q4_0," + t.name().toLowerCase(java.util.Locale.ROOT), "none", null))
                    .isInstanceOf(JobRejectedException.class)
                    .hasMessage(t.name() + " cannot be made by this build of requant (it can make "
                            + dev.requant.formats.gguf.FileType.producibleNames() + ")");
        }
    }

    @Test
    void hfSourceExpandsToConvertImatrixAndOneQuantizePerType() throws Exception {
        Path hf = Fixtures.hfFolder(dir.resolve("gemma-tiny"));
        Path calib = Files.writeString(dir.resolve("calib.txt"), "some text");
        JobPlan p = plan(hf, "q8_0,Q4_K,q4_0,q8_0,bf16", "auto", calib);
        Path out = dir.resolve("out");
        assertThat(p.types()).containsExactly(FileType.Q8_0, FileType.Q4_K_M, FileType.Q4_0, FileType.BF16);
        assertThat(p.steps()).extracting(PlannedStep::kind)
                .containsExactly(StepKind.CONVERT, StepKind.IMATRIX, StepKind.QUANTIZE, StepKind.QUANTIZE, StepKind.QUANTIZE);
        Path base = out.resolve("gemma-tiny-BF16.gguf");
        Path imatrix = out.resolve("gemma-tiny.imatrix.gguf");
        assertThat(p.steps().get(0).output()).isEqualTo(base);
        assertThat(p.steps().get(1)).isEqualTo(new PlannedStep(StepKind.IMATRIX, null, base, null, calib, imatrix, List.of(base)));
        assertThat(p.steps().get(2)).isEqualTo(new PlannedStep(StepKind.QUANTIZE, FileType.Q8_0, base, imatrix, null,
                out.resolve("gemma-tiny-Q8_0.gguf"), List.of(base, imatrix)));
        assertThat(p.steps().get(3).output()).isEqualTo(out.resolve("gemma-tiny-Q4_K_M.gguf"));
    }

    @Test
    void realCheckpointAndLlamaCppImatrixFilesInBothFormatsAreAccepted() throws Exception {
        Path hf = Golden.hf("gemma3-tiny");
        for (String imatrix : List.of("gemma3-tiny.imatrix.gguf", "gemma3-tiny.imatrix.dat")) {
            JobPlan p = plan(hf, "q4_0,q6_k", Golden.llamacpp(imatrix).toString(), null);
            assertThat(p.sourceKind()).isEqualTo(JobPlan.SourceKind.HF);
            assertThat(p.steps()).extracting(PlannedStep::kind).containsExactly(StepKind.CONVERT, StepKind.QUANTIZE, StepKind.QUANTIZE);
            assertThat(p.steps().get(2).imatrix()).isEqualTo(Golden.llamacpp(imatrix));
            assertThat(p.steps().get(2).output().getFileName()).hasToString("gemma3-tiny-Q6_K.gguf");
        }
    }

    @Test
    void ggufSourceNeedsNoConvertAndLosesItsPrecisionSuffixInOutputNames() throws Exception {
        Path src = Fixtures.gguf(dir.resolve("llama-tiny-BF16.gguf"));
        JobPlan p = plan(src, "q4_0", "none", null);
        assertThat(p.steps()).singleElement().satisfies(s -> {
            assertThat(s.kind()).isEqualTo(StepKind.QUANTIZE);
            assertThat(s.input()).isEqualTo(src);
            assertThat(s.output()).isEqualTo(dir.resolve("out/llama-tiny-Q4_0.gguf"));
            assertThat(s.dependsOn()).isEmpty();
        });
    }
}
