package dev.requant.cli;

import static org.assertj.core.api.Assertions.assertThat;

import dev.requant.formats.ggml.GgmlType;
import org.junit.jupiter.api.Test;

class KernelWarmUpTest {
    @Test
    void warmsTheEncoderTheCommandLineAsksFor() {
        assertThat(KernelWarmUp.plan(new String[] {"quantize", "--pure", "in.gguf", "out.gguf", "Q4_0", "2"}))
                .isEqualTo(new KernelWarmUp.Plan(java.util.List.of(GgmlType.Q4_0), false, java.util.List.of()));
        assertThat(KernelWarmUp.plan(new String[] {"quantize", "in.gguf", "out.gguf", "q8_0"}).kernels()).containsExactly(GgmlType.Q8_0);
        assertThat(KernelWarmUp.plan(new String[] {"quantize", "in.gguf", "out.gguf", "Q4_K_M"}).kernels()).isEmpty();
    }

    @Test
    void convertToQ4_0WarmsTheLatticeUnlessQatIsOff() {
        assertThat(KernelWarmUp.plan(new String[] {"convert", "hf", "-o", "x.gguf", "--type", "q4_0"}).lattice()).isTrue();
        assertThat(KernelWarmUp.plan(new String[] {"convert", "hf", "--type=q4_0", "--qat", "off"}).lattice()).isFalse();
        assertThat(KernelWarmUp.plan(new String[] {"convert", "hf", "--type", "Q4_0", "--qat=off"}).lattice()).isFalse();
        assertThat(KernelWarmUp.plan(new String[] {"convert", "hf", "--type", "q8_0"}).lattice()).isFalse();
        // llama.cpp's Q4_0 encoder: warmed at start only when no lattice is possible (else the plan warms it on demand)
        assertThat(KernelWarmUp.plan(new String[] {"convert", "hf", "-o", "x.gguf", "--type", "q4_0"}).kernels()).isEmpty();
        assertThat(KernelWarmUp.plan(new String[] {"convert", "hf", "--type=q4_0", "--qat", "off"}).kernels()).containsExactly(GgmlType.Q4_0);
    }

    /** The plain warm-up: Q6_K (token_embd, output) and the cheap file type's own encoder; never a guess from a value. */
    @Test
    void aCheapQuantizationWarmsQ6_KAndItsOwnEncoder() {
        assertThat(KernelWarmUp.plan(new String[] {"quantize", "in.gguf", "out.gguf", "TQ1_0", "2"}).plain())
                .containsExactly(GgmlType.Q6_K, GgmlType.TQ1_0);
        assertThat(KernelWarmUp.plainEncoders(new String[] {"quantize", "--imatrix", "Q2_K", "in.gguf", "out.gguf", "q3_k_s"}))
                .containsExactly(GgmlType.Q6_K, GgmlType.Q3_K);
        assertThat(KernelWarmUp.plainEncoders(new String[] {"quantize", "in.gguf", "out.gguf", "Q6_K"})).containsExactly(GgmlType.Q6_K);
        assertThat(KernelWarmUp.plainEncoders(new String[] {"quantize", "in.gguf", "out.gguf", "IQ2_XXS"})).isEmpty();
        assertThat(KernelWarmUp.plainEncoders(new String[] {"quantize", "in.gguf", "out.gguf", "Q8_0"})).isEmpty();
        assertThat(KernelWarmUp.plainEncoders(new String[] {"quantize", "in.gguf", "out.gguf", "10"})).isEmpty();
        assertThat(KernelWarmUp.plan(new String[] {"quantize", "in.gguf", "out.gguf", "Q2_K", "--dry-run"}).plain()).isEmpty();
        assertThat(KernelWarmUp.plan(new String[] {"convert", "hf", "--type", "q2_k"}).plain()).isEmpty();
    }

    @Test
    void otherCommandsWarmNothing() {
        assertThat(KernelWarmUp.plan(new String[] {"inspect", "q4_0"})).isEqualTo(KernelWarmUp.Plan.NONE);
        assertThat(KernelWarmUp.plan(new String[0])).isEqualTo(KernelWarmUp.Plan.NONE);
        assertThat(KernelWarmUp.plan(new String[] {"convert", "hf", "--type", "bf16"})).isEqualTo(KernelWarmUp.Plan.NONE);
        assertThat(KernelWarmUp.plan(new String[] {"convert", "hf", "--type", "q4_0", "--dry-run"})).isEqualTo(KernelWarmUp.Plan.NONE);
        assertThat(KernelWarmUp.plan(new String[] {"quantize", "--help", "Q4_0"})).isEqualTo(KernelWarmUp.Plan.NONE);
    }
}
