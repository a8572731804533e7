package dev.requant.cli;

import static org.assertj.core.api.Assertions.assertThat;

import dev.requant.formats.ggml.GgmlType;
import org.junit.jupiter.api.Test;

class KernelWarmUpTest {
    @Test
    void warmsTheEncoderTheCommandLineAsksFor() {
        assertThat(KernelWarmUp.plan(new String[] {"quantize", "--pure", "in.gguf", "out.gguf", "Q4_0", "2"}))
                .isEqualTo(new KernelWarmUp.Plan(java.util.List.of(GgmlType.Q4_0), false));
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

    @Test
    void otherCommandsWarmNothing() {
        assertThat(KernelWarmUp.plan(new String[] {"inspect", "q4_0"})).isEqualTo(KernelWarmUp.Plan.NONE);
        assertThat(KernelWarmUp.plan(new String[0])).isEqualTo(KernelWarmUp.Plan.NONE);
        assertThat(KernelWarmUp.plan(new String[] {"convert", "hf", "--type", "bf16"})).isEqualTo(KernelWarmUp.Plan.NONE);
        assertThat(KernelWarmUp.plan(new String[] {"convert", "hf", "--type", "q4_0", "--dry-run"})).isEqualTo(KernelWarmUp.Plan.NONE);
        assertThat(KernelWarmUp.plan(new String[] {"quantize", "--help", "Q4_0"})).isEqualTo(KernelWarmUp.Plan.NONE);
    }
}
